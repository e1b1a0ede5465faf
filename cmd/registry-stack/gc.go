package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/registry-stack/registry-stack/internal/registry"
)

// runGarbageCollect frees the storage of blobs no manifest references any
// more (deleting a tag or manifest only unlinks them) and, with --uploads,
// of upload sessions clients abandoned.
func runGarbageCollect(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("garbage-collect", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "report what would be removed, remove nothing")
	untagged := fs.Bool("delete-untagged", false, "also remove manifests no tag points at (referrers of kept manifests, such as signatures and SBOMs, are kept)")
	verbose := fs.Bool("verbose", false, "print each marked and removed manifest and blob")
	uploads := fs.Bool("uploads", false, "also remove abandoned upload sessions (see --uploads-older-than)")
	olderThan := fs.Duration("uploads-older-than", 0, "with --uploads: remove sessions started longer ago than this; 0s removes all (default: the upload purge age, storage.upload_purge_age)")
	cfg, code, ok := parseConfig(fs, args, environ, stderr)
	if !ok {
		return code
	}
	if *olderThan < 0 {
		fmt.Fprintf(stderr, "registry-stack garbage-collect: --uploads-older-than %s: must not be negative\n", *olderThan)
		return exitUsage
	}
	opts := registry.GCOptions{DryRun: *dryRun, RemoveUntagged: *untagged, Verbose: *verbose, Uploads: *uploads, UploadsOlderThan: *olderThan}
	if *uploads && !flagSet(fs, "uploads-older-than") {
		age, err := registry.UploadPurgeAge(cfg)
		if err != nil {
			return fail(stderr, "registry-stack garbage-collect", err)
		}
		opts.UploadsOlderThan = age
	}
	res, err := registry.GarbageCollect(ctx, cfg, opts)
	if err != nil {
		return fail(stderr, "registry-stack garbage-collect", err)
	}
	if *uploads {
		printUploads(stdout, res, opts)
	}
	printManifests(stdout, res, opts)
	fmt.Fprintf(stdout, "blobs before: %d (%s)\n", res.BlobsBefore, mib(res.BytesBefore))
	if *dryRun {
		fmt.Fprintln(stdout, "dry run: nothing removed (--verbose lists what would be)")
		return exitOK
	}
	fmt.Fprintf(stdout, "blobs after:  %d (%s)\n", res.BlobsAfter, mib(res.BytesAfter))
	fmt.Fprintf(stdout, "removed %d blobs, %s\n", res.BlobsBefore-res.BlobsAfter, mib(res.BytesBefore-res.BytesAfter))
	if res.AliasesRemoved > 0 {
		fmt.Fprintf(stdout, "removed %d sha512 digests of removed content\n", res.AliasesRemoved)
	}
	return exitOK
}

// printUploads lists each removed upload session and sums up both lists.
func printUploads(w io.Writer, res registry.GCResult, opts registry.GCOptions) {
	verb := "removed"
	if opts.DryRun {
		verb = "would remove"
	}
	var removed, kept int64
	for _, u := range res.UploadsRemoved {
		removed += u.Bytes
		fmt.Fprintf(w, "%s upload %s of %s, started %s, %s\n", verb, u.ID, u.Repository, u.Started.UTC().Format(time.RFC3339), mib(u.Bytes))
	}
	for _, u := range res.UploadsKept {
		kept += u.Bytes
	}
	fmt.Fprintf(w, "uploads: %s %d (%d bytes, %s) started more than %s ago; kept %d (%d bytes)\n",
		verb, len(res.UploadsRemoved), removed, mib(removed), opts.UploadsOlderThan, len(res.UploadsKept), kept)
}

// flagSet reports whether the command line set the named flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// printManifests lists each removed manifest and sums up the changes to the
// referrers index.
func printManifests(w io.Writer, res registry.GCResult, opts registry.GCOptions) {
	verb, add := "removed", "added"
	if opts.DryRun {
		verb, add = "would remove", "would add"
	}
	referrers := 0
	for _, m := range res.ManifestsRemoved {
		why := "untagged"
		if m.Referrer {
			why, referrers = "referrer of a manifest that is gone", referrers+1
		}
		if opts.Verbose {
			fmt.Fprintf(w, "%s manifest %s@%s (%s)\n", verb, m.Repository, m.Digest, why)
		}
	}
	fmt.Fprintf(w, "manifests: %s %d (%d of them referrers of manifests that are gone)\n", verb, len(res.ManifestsRemoved), referrers)
	fmt.Fprintf(w, "referrers index: %s %d entries, %s %d\n", verb, res.ReferrerEntriesRemoved, add, res.ReferrerEntriesAdded)
}
