package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/export"
	"github.com/registry-stack/registry-stack/internal/mirror"
)

// runMirror brings a bundle or a second registry in step with the tags a
// list selects upstream, copying only the tags whose digest changed.
func runMirror(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const cmd = "registry-stack mirror"
	fs := flag.NewFlagSet("mirror", flag.ContinueOnError)
	listFile := fs.String("list", "", "YAML mirror list `FILE` (repositories: [{repository, tags, semver, regex, to}])")
	output := fs.String("output", "", "keep the bundle in `DIR` (an OCI image layout directory) in step")
	to := fs.String("to", "", "keep the registry at `HOST:PORT` in step")
	jobs := fs.Int("jobs", 4, "blobs fetched at once per image (bundle)")
	src := sourceFlags(fs)
	dstFlags := endpointFlagSet(fs, "to-", "the --to registry", false)
	usageLine(fs, "registry-stack mirror --list FILE (--output DIR | --to HOST:PORT) [flags]")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	switch {
	case *listFile == "":
		fmt.Fprintf(stderr, "%s: --list is required\n", cmd)
		return exitUsage
	case (*output == "") == (*to == ""):
		fmt.Fprintf(stderr, "%s: give exactly one of --output DIR and --to HOST:PORT\n", cmd)
		return exitUsage
	case strings.HasSuffix(*output, ".tar"):
		fmt.Fprintf(stderr, "%s: --output %s: mirror keeps a directory bundle; run export for a .tar\n", cmd, *output)
		return exitUsage
	case *jobs < 1:
		fmt.Fprintf(stderr, "%s: --jobs %d: must be at least 1\n", cmd, *jobs)
		return exitUsage
	}
	ep, err := src.endpoint(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return exitUsage
	}
	f, err := os.Open(*listFile)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --list: %v\n", cmd, err)
		return exitUsage
	}
	list, err := mirror.ParseList(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "%s: --list %s: %v\n", cmd, *listFile, err)
		return exitUsage
	}
	puller, err := remote.NewPuller(ep.RemoteOptions(ctx, nil)...)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	display, finish := startDisplay(stderr)
	m := &mirror.Mirror{Source: ep, Puller: puller, Display: display}
	var ex *export.Exporter
	if *output != "" {
		layout, err := export.OpenLayout(*output)
		if err != nil {
			finish()
			return fail(stderr, cmd, err)
		}
		defer layout.Close()
		ex = export.New(layout, export.Options{Puller: puller, Display: display, Jobs: *jobs})
		m.Dest = &mirror.Bundle{Layout: layout, Exporter: ex}
	} else {
		dep, err := dstFlags.endpoint(nil)
		if err != nil {
			finish()
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return exitUsage
		}
		reg, err := dep.Registry(*to)
		if err != nil {
			finish()
			fmt.Fprintf(stderr, "%s: --to %v\n", cmd, err)
			return exitUsage
		}
		opts := dep.RemoteOptions(ctx, nil)
		pusher, err := remote.NewPusher(opts...)
		if err == nil {
			var dstPuller *remote.Puller
			if dstPuller, err = remote.NewPuller(opts...); err == nil {
				m.Dest = &mirror.Registry{Endpoint: dep, Host: reg.RegistryStr(), Pusher: pusher, Puller: dstPuller, Source: puller, Display: display}
			}
		}
		if err != nil {
			finish()
			return fail(stderr, cmd, err)
		}
	}
	res := m.Run(ctx, list)
	elapsed := finish()
	fmt.Fprintf(stdout, "mirror: %d copied, %d unchanged, %d failed in %.1f s\n", res.Copied, res.Unchanged, res.Failed, elapsed.Seconds())
	if ex != nil {
		printSummary(stdout, "mirror", ex.Stats(), elapsed)
	}
	if res.Failed > 0 {
		return exitFailure
	}
	return exitOK
}
