// Command registry-stack runs a container registry with Keycloak logins and
// a web UI from one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/registry-stack/registry-stack/internal/buildinfo"
	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/logging"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/server"
	"github.com/registry-stack/registry-stack/internal/stack"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit codes: 2 for anything the user must fix in config or flags; a
// second SIGTERM/SIGINT during shutdown exits with 128 + its number.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `registry-stack: a container registry with Keycloak logins and a web UI.

Usage:
  registry-stack serve [flags]          run the registry, token endpoint and UI
  registry-stack check-config [flags]   validate and print the effective config
  registry-stack bootstrap [flags]      prepare a Keycloak realm and docker-v2 client
  registry-stack garbage-collect [flags] free the storage of unreferenced blobs (server stopped)
  registry-stack policy explain [flags] show what the policy allows a user, and by which rule
  registry-stack export [flags] REF...  copy images, all platforms and referrers, into an OCI layout (dir or .tar)
  registry-stack mirror [flags]         keep a bundle or a second registry in step with upstream tags
  registry-stack import [flags] PATH    push the images of a bundle (OCI layout, its tar, docker save) into a registry
  registry-stack probe [flags]          exit 0 when the local server is ready (for HEALTHCHECK)
  registry-stack version [--json|--cyclonedx] print the version; the build's modules as JSON or a CycloneDX SBOM

Run "registry-stack <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], environ, stdout, stderr)
	case "check-config":
		return runCheckConfig(args[1:], environ, stdout, stderr)
	case "garbage-collect":
		return runGarbageCollect(ctx, args[1:], environ, stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], os.Stdin, stdout, stderr)
	case "mirror":
		return runMirror(ctx, args[1:], os.Stdin, stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], environ, os.Stdin, stdout, stderr)
	case "probe":
		return runProbe(ctx, args[1:], environ, stderr)
	case "policy":
		return runPolicy(ctx, args[1:], environ, stdout, stderr)
	case "bootstrap":
		return runBootstrap(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "registry-stack: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// fail prints err on one line and returns the exit code: 2 for what the
// user must fix (a setting, the listen address), 1 for anything else. cmd
// names the command in the message.
func fail(stderr io.Writer, cmd string, err error) int {
	var ce *config.Error
	var le *server.ListenError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "registry-stack: invalid config: %v\n", err)
		return exitUsage
	case errors.As(err, &le):
		fmt.Fprintf(stderr, "%s: %v (set listen, %s or --listen)\n", cmd, err, config.EnvName("listen"))
		return exitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
	return exitFailure
}

// runVersion prints the version, or the binary's bill of materials read
// from its own build info (so it describes exactly this file).
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the version, Go toolchain, build settings and every compiled-in module as JSON")
	asCDX := fs.Bool("cyclonedx", false, "print a CycloneDX "+buildinfo.SpecVersion+" JSON SBOM of this binary (with its SHA-256)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || (*asJSON && *asCDX) {
		fmt.Fprintln(stderr, "registry-stack version: takes no arguments and at most one of --json, --cyclonedx")
		return exitUsage
	}
	if !*asJSON && !*asCDX {
		fmt.Fprintf(stdout, "registry-stack %s\n", versionString())
		return exitOK
	}
	info, err := buildinfo.Read(versionString())
	if err != nil {
		fmt.Fprintf(stderr, "registry-stack version: %v\n", err)
		return exitFailure
	}
	var out []byte
	if *asJSON {
		out, err = info.JSON()
	} else {
		out, err = cycloneDX(info)
	}
	if err != nil {
		fmt.Fprintf(stderr, "registry-stack version: %v\n", err)
		return exitFailure
	}
	_, _ = stdout.Write(out)
	return exitOK
}

func cycloneDX(info buildinfo.Info) ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locate the binary: %w", err)
	}
	sum, err := buildinfo.FileSHA256(exe)
	if err != nil {
		return nil, err
	}
	serial, err := buildinfo.NewSerial()
	if err != nil {
		return nil, err
	}
	return buildinfo.CycloneDX(info, buildinfo.SBOMOptions{
		Serial: serial,
		Time:   time.Now(),
		Binary: buildinfo.Binary{Name: filepath.Base(exe), SHA256: sum},
	})
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

// configFlags are the flags shared by every command that reads the
// configuration; each one, when given, overrides the file and the
// environment.
var configFlags = [...]struct{ flag, key, help string }{
	{"listen", "listen", "listen `address` host:port (default " + config.DefaultListen + ")"},
	{"data-dir", "data_dir", "`directory` for registry data"},
	{"public-url", "public_url", "externally visible base `URL`"},
	{"auth", "auth", "authentication `mode`: none, keycloak or oidc"},
	{"keycloak-url", "keycloak.url", "Keycloak base `URL` (include /auth for old Keycloak)"},
	{"keycloak-realm", "keycloak.realm", "Keycloak realm `name`"},
	{"keycloak-service", "keycloak.service", "docker-v2 client id, the token `service`"},
	{"proxy-remote-url", "proxy.remote_url", "upstream registry base `URL`: serve as its pull-through cache"},
	{"log-format", "log.format", "log `format`: text or json"},
	{"log-level", "log.level", "log `level`: debug, info, warn, error"},
}

// parseConfig registers the config flags on fs, parses args and loads the
// configuration; when that fails it has said why and returns the exit code.
func parseConfig(fs *flag.FlagSet, args, environ []string, stderr io.Writer) (*config.Config, int, bool) {
	cfg, _, code, ok := parseConfigReloadable(fs, args, environ, stderr)
	return cfg, code, ok
}

// parseConfigReloadable is parseConfig that also returns how to load the
// configuration again from the same file, environment and flags.
func parseConfigReloadable(fs *flag.FlagSet, args, environ []string, stderr io.Writer) (*config.Config, func() (*config.Config, error), int, bool) {
	file := fs.String("config", "", "YAML config `file`")
	keyOf := make(map[string]string, len(configFlags))
	for _, f := range configFlags {
		fs.String(f.flag, "", f.help+" ["+config.EnvName(f.key)+"]")
		keyOf[f.flag] = f.key
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return nil, nil, code, false
	}
	var given []config.Flag
	fs.Visit(func(f *flag.Flag) {
		if key, ok := keyOf[f.Name]; ok {
			given = append(given, config.Flag{Name: f.Name, Key: key, Value: f.Value.String()})
		}
	})
	load := func() (*config.Config, error) { return config.Load(*file, environ, given) }
	cfg, err := load()
	if err != nil {
		return nil, nil, fail(stderr, "registry-stack "+fs.Name(), err), false
	}
	return cfg, load, 0, true
}

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "registry-stack %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

func runCheckConfig(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	cfg, code, ok := parseConfig(fs, args, environ, stderr)
	if !ok {
		return code
	}
	// The passed-through sections are only understood by distribution's
	// own config types: check them the way serve will.
	if _, err := registry.DistributionConfig(cfg, registry.Options{}); err != nil {
		return fail(stderr, "registry-stack check-config", err)
	}
	out, err := cfg.Redacted()
	if err != nil {
		fmt.Fprintf(stderr, "registry-stack: render config: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, "# effective configuration (secrets redacted)")
	_, _ = stdout.Write(out)
	return exitOK
}

func runServe(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	const cmd = "registry-stack"
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	// SIGHUP's default action ends the process: catch it from the start,
	// so a reload sent while the stack is still starting is not fatal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// main's context ends at the first SIGTERM/SIGINT (graceful shutdown);
	// this channel sees that one too, and the one after it.
	term := make(chan os.Signal, 2)
	signal.Notify(term, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(term)
	cfg, reload, code, ok := parseConfigReloadable(fs, args, environ, stderr)
	if !ok {
		return code
	}
	log, err := logging.New(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return fail(stderr, cmd, &config.Error{Key: "log", Msg: err.Error()})
	}
	logging.BridgeLogrus(logrus.StandardLogger(), log)

	// Shared with other servers, exclusive to garbage-collect.
	unlock, err := registry.LockDataDir(cfg.DataDir, false)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	defer unlock()
	ln, err := server.Listen(ctx, cfg.Listen)
	if err != nil {
		return fail(stderr, cmd, err)
	}
	defer ln.Close()
	public := server.PublicURL(cfg.PublicURL, cfg.TLS.Cert != "", ln)
	st, err := stack.New(ctx, cfg, stack.Options{Logger: log, PublicURL: public, Version: versionString()})
	if err != nil {
		return fail(stderr, cmd, err)
	}
	defer st.Close()
	go reloadOnHangup(ctx, hup, reload, st, log)
	go exitOnSecondSignal(term, log)
	log.Info("registry-stack listening", "addr", ln.Addr().String(), "public_url", public, "auth", cfg.Auth, "version", versionString())
	err = server.Serve(ctx, ln, st.Handler, server.ServeOptions{
		CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key, Logger: log,
		DrainDelay: cfg.HTTP.DrainDelay.D(), Grace: cfg.ShutdownGrace.D(), BodyIdleTimeout: cfg.HTTP.BodyIdleTimeout.D(),
	})
	if err != nil {
		log.Error("server stopped", "error", err)
		return exitFailure
	}
	log.Info("stopped")
	return exitOK
}

// exitOnSecondSignal ends the process at once when a second SIGTERM or
// SIGINT arrives during the graceful shutdown the first one started: who
// sends it (Ctrl-C twice, a supervisor that escalates) does not want to
// wait for the drain and the grace. The exit code is 128 + the signal's number, as
// shells report a process killed by it: 130 for SIGINT, 143 for SIGTERM.
func exitOnSecondSignal(term <-chan os.Signal, log *slog.Logger) {
	<-term
	sig := <-term
	code := exitFailure
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
	}
	log.Error("second signal during shutdown: exiting now, in-flight requests are cut", "signal", sig.String(), "exit_code", code)
	os.Exit(code)
}

// reloadOnHangup puts a changed policy in force on SIGHUP, without a
// restart. The configuration is read again from the same file, environment
// and flags; an invalid one leaves everything as it was, with one log line
// naming the key or rule at fault. Other settings need a restart.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, reload func() (*config.Config, error), st *stack.Stack, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := reload()
		if err == nil {
			err = st.ReloadPolicy(cfg)
		}
		if err != nil {
			log.Error("reload refused, the policy in force is unchanged", "error", err)
			continue
		}
		log.Info("policy reloaded")
	}
}
