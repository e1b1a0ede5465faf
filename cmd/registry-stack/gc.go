package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/registry-stack/registry-stack/internal/registry"
)

// runGarbageCollect frees the storage of blobs no manifest references any
// more (deleting a tag or manifest only unlinks them).
func runGarbageCollect(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("garbage-collect", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "report what would be removed, remove nothing")
	untagged := fs.Bool("delete-untagged", false, "also remove manifests no tag points at")
	verbose := fs.Bool("verbose", false, "print each marked and removed manifest and blob")
	cfg, code, ok := parseConfig(fs, args, environ, stderr)
	if !ok {
		return code
	}
	res, err := registry.GarbageCollect(ctx, cfg, registry.GCOptions{DryRun: *dryRun, RemoveUntagged: *untagged, Verbose: *verbose})
	if err != nil {
		return fail(stderr, "registry-stack garbage-collect", err)
	}
	fmt.Fprintf(stdout, "blobs before: %d (%s)\n", res.BlobsBefore, mib(res.BytesBefore))
	if *dryRun {
		fmt.Fprintln(stdout, "dry run: nothing removed (--verbose lists what would be)")
		return exitOK
	}
	fmt.Fprintf(stdout, "blobs after:  %d (%s)\n", res.BlobsAfter, mib(res.BytesAfter))
	fmt.Fprintf(stdout, "removed %d blobs, %s\n", res.BlobsBefore-res.BlobsAfter, mib(res.BytesBefore-res.BytesAfter))
	return exitOK
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
