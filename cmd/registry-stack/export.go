package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/endpoint"
	"github.com/registry-stack/registry-stack/internal/export"
	"github.com/registry-stack/registry-stack/internal/progress"
)

// runExport copies images (all platforms, referrers) from registries into
// an OCI image layout, a directory or a .tar, for a lab without a network.
func runExport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const cmd = "registry-stack export"
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "", "write the bundle to `PATH`: a directory, or one tar archive when PATH ends in .tar")
	list := fs.String("list", "", "read references from `FILE`, one per line (# starts a comment)")
	jobs := fs.Int("jobs", 4, "blobs fetched at once per image")
	src := sourceFlags(fs)
	usageLine(fs, "registry-stack export [flags] --output PATH REF...\n  REF: host[:port]/repository:tag or host[:port]/repository@digest")
	refArgs, code, ok := parseInterspersed(fs, args, stderr)
	if !ok {
		return code
	}
	if *output == "" {
		fmt.Fprintf(stderr, "%s: --output is required\n", cmd)
		return exitUsage
	}
	if *jobs < 1 {
		fmt.Fprintf(stderr, "%s: --jobs %d: must be at least 1\n", cmd, *jobs)
		return exitUsage
	}
	ep, err := src.endpoint(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return exitUsage
	}
	if *list != "" {
		more, err := readRefList(*list)
		if err != nil {
			fmt.Fprintf(stderr, "%s: --list: %v\n", cmd, err)
			return exitUsage
		}
		refArgs = append(refArgs, more...)
	}
	if len(refArgs) == 0 {
		fmt.Fprintf(stderr, "%s: no references: give host:port/repo:tag arguments or --list FILE\n", cmd)
		return exitUsage
	}
	refs := make([]name.Reference, 0, len(refArgs))
	for _, s := range refArgs {
		ref, err := ep.ParseReference(s)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return exitUsage
		}
		refs = append(refs, ref)
	}

	dir, asTar := *output, strings.HasSuffix(*output, ".tar")
	if asTar {
		// The layout is built next to the archive and kept until the
		// archive is complete, so an interrupted export resumes.
		dir = *output + ".partial"
	}
	layout, err := export.OpenLayout(dir)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	defer layout.Close()
	puller, err := remote.NewPuller(ep.RemoteOptions(ctx, nil)...)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	display, finish := startDisplay(stderr)
	ex := export.New(layout, export.Options{Puller: puller, Display: display, Jobs: *jobs})
	failed := 0
	for _, ref := range refs {
		if _, err := ex.Export(ctx, ref); err != nil {
			failed++
			display.Logf("%s: %s: %v", cmd, ref, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	// Only a complete bundle becomes PATH: an archive under its final name
	// that lacks images would pass for a finished one.
	tarFailed := false
	if asTar && failed == 0 && ctx.Err() == nil {
		if err := export.WriteTar(dir, *output); err != nil {
			tarFailed = true
			display.Logf("%s: %v", cmd, err)
		} else {
			layout.Close()
			if err := os.RemoveAll(dir); err != nil {
				display.Logf("%s: remove %s: %v", cmd, dir, err)
			}
		}
	}
	elapsed := finish()
	printSummary(stdout, "export", ex.Stats(), elapsed)
	switch {
	case failed > 0 && asTar:
		fmt.Fprintf(stderr, "%s: bundle incomplete: %d of %d references failed; %s kept, run again to finish\n", cmd, failed, len(refs), dir)
		return exitFailure
	case failed > 0:
		fmt.Fprintf(stderr, "%s: %d of %d references failed\n", cmd, failed, len(refs))
		return exitFailure
	case tarFailed:
		fmt.Fprintf(stderr, "%s: every reference was exported to %s, but the archive %s was not written\n", cmd, dir, *output)
		return exitFailure
	case asTar && ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s: interrupted; %s kept, run again to finish\n", cmd, dir)
		return exitFailure
	}
	return exitOK
}

// usageLine puts a synopsis above the flags in -h output.
func usageLine(fs *flag.FlagSet, synopsis string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
}

// startDisplay shows progress on stderr (a live line on a terminal) and
// returns how to stop it, which reports the time spent.
func startDisplay(stderr io.Writer) (*progress.Display, func() time.Duration) {
	live := false
	if f, ok := stderr.(*os.File); ok {
		live = progress.IsTerminal(f)
	}
	start := time.Now()
	display := progress.NewDisplay(stderr, live, progress.NewMeter(time.Now))
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		display.Run(200*time.Millisecond, stop)
		close(stopped)
	}()
	return display, func() time.Duration {
		close(stop)
		<-stopped
		return time.Since(start)
	}
}

// printSummary is the last line of export and mirror, stable for scripts.
func printSummary(w io.Writer, what string, s export.Stats, elapsed time.Duration) {
	secs := elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(s.Bytes) / secs
	}
	fmt.Fprintf(w, "%s: %d images, %d blobs written, %d blobs skipped, %d bytes (%s) in %.1f s, %s\n",
		what, s.Images, s.BlobsWritten, s.BlobsSkipped, s.Bytes, progress.Bytes(s.Bytes), secs, progress.MBps(rate))
}

// endpointFlags are the flags that say how to log in to one registry.
type endpointFlags struct {
	prefix             string
	username, password *string
	passwordFile       *string
	passwordStdin      *bool // nil where stdin is not offered
	insecure           *bool
}

// sourceFlags registers --username, --password, --password-file,
// --password-stdin and --insecure for the registry images come from.
func sourceFlags(fs *flag.FlagSet) *endpointFlags {
	return endpointFlagSet(fs, "", "the source registry", true)
}

func endpointFlagSet(fs *flag.FlagSet, prefix, what string, stdin bool) *endpointFlags {
	e := &endpointFlags{prefix: prefix}
	e.username = fs.String(prefix+"username", "", "user `name` at "+what+" (default: the Docker config's credentials, else anonymous)")
	e.password = fs.String(prefix+"password", "", "`password` at "+what+" (prefer --"+prefix+"password-file, which keeps it out of shell history)")
	e.passwordFile = fs.String(prefix+"password-file", "", "read the password at "+what+" from `FILE` (first line)")
	if stdin {
		e.passwordStdin = fs.Bool(prefix+"password-stdin", false, "read the password at "+what+" from standard input (first line)")
	}
	e.insecure = fs.Bool(prefix+"insecure", false, "allow plain HTTP and TLS certificates that do not verify at "+what)
	return e
}

// endpoint resolves the flags; it is a usage error to give the password
// more than one way, or a password without a user.
func (e *endpointFlags) endpoint(stdin io.Reader) (endpoint.Endpoint, error) {
	ep := endpoint.Endpoint{Username: *e.username, Password: *e.password, Insecure: *e.insecure, UserAgent: "registry-stack/" + versionString()}
	ways := 0
	for _, given := range []bool{*e.password != "", *e.passwordFile != "", e.passwordStdin != nil && *e.passwordStdin} {
		if given {
			ways++
		}
	}
	if ways > 1 {
		return ep, fmt.Errorf("give the password with only one of --%[1]spassword, --%[1]spassword-file, --%[1]spassword-stdin", e.prefix)
	}
	switch {
	case *e.passwordFile != "":
		f, err := os.Open(*e.passwordFile)
		if err != nil {
			return ep, fmt.Errorf("--%spassword-file: %w", e.prefix, err)
		}
		defer f.Close()
		ep.Password, err = firstLine(f)
		if err != nil {
			return ep, fmt.Errorf("--%spassword-file %s: %w", e.prefix, *e.passwordFile, err)
		}
	case e.passwordStdin != nil && *e.passwordStdin:
		var err error
		if ep.Password, err = firstLine(stdin); err != nil {
			return ep, fmt.Errorf("--%spassword-stdin: %w", e.prefix, err)
		}
	}
	if ep.Password != "" && ep.Username == "" {
		return ep, fmt.Errorf("a password needs --%susername", e.prefix)
	}
	if ep.Username != "" && ep.Password == "" {
		return ep, fmt.Errorf("--%susername needs a password (--%[1]spassword-file, --%[1]spassword)", e.prefix)
	}
	return ep, nil
}

func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password")
	}
	return line, nil
}

// readRefList reads one reference per line; blank lines and # comments
// are skipped.
func readRefList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var refs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			refs = append(refs, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return refs, nil
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns those arguments.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, int, bool) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, 0, true
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
