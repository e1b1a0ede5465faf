package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

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
	insecure := fs.Bool("insecure", false, "allow plain HTTP and any TLS certificate on the target")
	username := fs.String("username", "", "log in as `user` (a user or a robot's client id)")
	password := fs.String("password", "", "the user's `password` (visible in the process list: prefer --password-stdin)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	prefix := fs.String("prefix", "", "re-home every repository under `path` (lab: team/app → lab/team/app)")
	repository := fs.String("repository", "", "`repository` of images the bundle names by a tag alone (default: the bundle's file or directory name)")
	configFile := fs.String("config", "", "YAML config `file` the default --to is read from")

	// Flags may come before and after PATH.
	var paths []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(paths) != 1 {
		fmt.Fprintf(stderr, "%s: want exactly one PATH, got %d\n\n", cmd, len(paths))
		fs.Usage()
		return exitUsage
	}
	if *passwordStdin {
		if *password != "" {
			fmt.Fprintf(stderr, "%s: --password and --password-stdin exclude each other\n", cmd)
			return exitUsage
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "%s: --password-stdin: %v\n", cmd, err)
			return exitUsage
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	if (*username == "") != (*password == "") {
		fmt.Fprintf(stderr, "%s: --username and a password (--password or --password-stdin) go together\n", cmd)
		return exitUsage
	}
	target, targetInsecure := *to, *insecure
	if target == "" {
		cfg, err := config.Load(*configFile, environ, nil)
		if err != nil {
			return fail(stderr, cmd, err)
		}
		target = localAddress(cfg.Listen)
		// The local stack's certificate names its public host, not the
		// loopback address it is reached at here (as for probe).
		targetInsecure = targetInsecure || cfg.TLS.Cert != ""
		fmt.Fprintf(stderr, "importing into the local stack at %s (the config's listen address; --to sets another)\n", target)
	}
	o := importer.Options{
		Path: paths[0], Registry: target, Insecure: targetInsecure,
		Username: *username, Password: *password,
		Prefix: *prefix, Repository: *repository,
		Log: stderr,
	}
	if isTerminal(stderr) {
		o.Terminal = stderr
	}
	rep, err := importer.Run(ctx, o)
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

// localAddress is where this machine reaches a stack listening on listen.
func localAddress(listen string) string {
	host, port, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
