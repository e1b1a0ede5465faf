package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/importer"
)

const importUsage = `Usage: registry-stack import [flags] PATH

Pushes every image of PATH into a registry: an OCI image layout directory
(registry-stack export, skopeo oci:, podman, oras), a tar of one (skopeo
oci-archive:, podman save --format oci-archive) or a docker save archive.
The format is told from the contents. Every blob and manifest is checked
against its digest; blobs the registry has are skipped.

Flags:
`

// runImport is the CLI of internal/importer: flags, the default target,
// the password, the report and the exit code (0 all imported, 1 any
// failed, 2 usage).
func runImport(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const cmd = "registry-stack import"
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage); fs.PrintDefaults() }
	to := fs.String("to", "", "target registry `HOST:PORT` (default: the local stack, from the config's listen address)")
	target := endpointFlagSet(fs, "", "the target registry (a user or a robot's client id)", true)
	prefix := fs.String("prefix", "", "re-home every repository under `path` (lab: team/app → lab/team/app)")
	repository := fs.String("repository", "", "`repository` of images the bundle names by a tag alone (default: the bundle's file or directory name)")
	configFile := fs.String("config", "", "YAML config `file` the default --to is read from")
	paths, code, ok := parseInterspersed(fs, args, stderr)
	if !ok {
		return code
	}
	if len(paths) != 1 {
		fmt.Fprintf(stderr, "%s: want exactly one PATH, got %d\n\n", cmd, len(paths))
		fs.Usage()
		return exitUsage
	}
	ep, err := target.endpoint(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return exitUsage
	}
	host := *to
	if host == "" {
		cfg, err := config.Load(*configFile, environ, nil)
		if err != nil {
			return fail(stderr, cmd, err)
		}
		host = config.LocalAddress(cfg.Listen)
		fmt.Fprintf(stderr, "importing into the local stack at %s (the config's listen address; --to sets another)\n", host)
		// Its certificate likely names the public host, not this address;
		// skipping the check is left to --insecure, since it would hold for
		// every host the import reaches (the token endpoint included, which
		// is sent the password).
		if cfg.TLS.Cert != "" && !ep.Insecure {
			fmt.Fprintf(stderr, "the local stack serves TLS: its certificate is checked for %s; if it names another host, pass --to HOST:PORT with that host, or --insecure to accept any certificate from every host this import reaches\n", host)
		}
	}
	display, finish := startDisplay(stderr)
	o := importer.Options{
		Path: paths[0], Registry: host, Endpoint: ep,
		Prefix: *prefix, Repository: *repository,
		Display: display,
	}
	rep, err := importer.Run(ctx, o)
	finish()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		var ue *importer.UsageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	rep.Write(stdout)
	if rep.Failed() > 0 {
		return exitFailure
	}
	return exitOK
}
