package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/registry-stack/registry-stack/internal/bootstrap"
)

// runBootstrap prepares a Keycloak realm, docker-v2 client and optional user
// for registry-stack and prints the matching config snippet.
func runBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	// Parse errors are reported as one line below, not with the full usage.
	fs.SetOutput(io.Discard)
	var opts bootstrap.Options
	fs.StringVar(&opts.KeycloakURL, "keycloak-url", "", "Keycloak base `URL`; include /auth for old Keycloak [REGISTRY_STACK_KEYCLOAK_URL]")
	fs.StringVar(&opts.AdminUser, "admin-user", "", "Keycloak admin `user` [KEYCLOAK_ADMIN_USER]")
	fs.StringVar(&opts.AdminPassword, "admin-password", "", "Keycloak admin `password` [KEYCLOAK_ADMIN_PASSWORD]")
	fs.StringVar(&opts.AdminRealm, "admin-realm", bootstrap.DefaultAdminRealm, "`realm` the admin user belongs to")
	fs.StringVar(&opts.Realm, "realm", "", "`name` of the realm to create or reuse")
	fs.StringVar(&opts.Service, "service", "", "docker-v2 client id, i.e. the token service `name` (e.g. registry-stack)")
	fs.StringVar(&opts.User, "user", "", "optional registry `user` to create or update")
	fs.StringVar(&opts.Password, "password", "", "`password` for --user (set non-temporary)")
	fs.DurationVar(&opts.Timeout, "timeout", bootstrap.DefaultTimeout, "timeout for each request to Keycloak")
	fs.StringVar(&opts.OIDCClient, "oidc-client", "", "for auth: oidc, registry-stack's OIDC client `id` to create (e.g. registry-stack)")
	fs.BoolVar(&opts.Demo, "demo", false, "for auth: oidc, create the demo layout of configs/policy-demo.yaml (alice, bob, carol, robot ci-robot)")
	fs.StringVar(&opts.Robot, "robot", "", "for auth: oidc, a robot client `name` to create; prints its secret")
	fs.Var((*listFlag)(&opts.RobotGroups), "robot-group", "a group `path` for the robot's service account (repeatable)")

	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "registry-stack bootstrap: %s (see registry-stack bootstrap -h)\n", fmt.Sprintf(format, a...))
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, "Usage: registry-stack bootstrap --keycloak-url URL --admin-user U --admin-password P --realm NAME\n"+
				"         (--service NAME | --oidc-client ID | --demo | --robot NAME [--robot-group PATH]...) [--user U --password P] [--timeout 30s]\n\n"+
				"Creates what is missing in Keycloak and prints the registry-stack config for it: for auth: keycloak a docker-v2 client\n"+
				"with the allow-all mapper (--service); for auth: oidc an OIDC client with a groups mapper (--oidc-client), the demo\n"+
				"layout (--demo) or a robot (--robot); optionally a user.\n\nFlags:\n")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return exitOK
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}

	// Environment values fill only what the flags left empty; they are not
	// flag defaults so that -h never prints the admin password.
	for _, d := range []struct {
		dst *string
		env string
	}{
		{&opts.KeycloakURL, "REGISTRY_STACK_KEYCLOAK_URL"},
		{&opts.AdminUser, "KEYCLOAK_ADMIN_USER"},
		{&opts.AdminPassword, "KEYCLOAK_ADMIN_PASSWORD"},
	} {
		if *d.dst == "" {
			*d.dst = os.Getenv(d.env)
		}
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// bootstrap checks the options (missing flags, --user with --password,
	// the URL, the timeout); its errors name the flags.
	res, err := bootstrap.Run(ctx, opts, log)
	if errors.Is(err, bootstrap.ErrInvalidOptions) {
		return usageErr("%v", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "registry-stack bootstrap: %v\n", err)
		return exitFailure
	}

	fmt.Fprintf(stdout, "Keycloak %s is ready for registry-stack:\n", res.KeycloakURL)
	for _, line := range strings.Split(strings.TrimRight(res.Summary(), "\n"), "\n") {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	if !res.Created() {
		fmt.Fprintln(stdout, "  (nothing to create)")
	}
	fmt.Fprintf(stdout, "\n# registry-stack config (logins against realm %q)\n%s", res.Realm, res.ConfigSnippet())
	if res.User != "" {
		fmt.Fprintf(stdout, "\n# try it: docker login <registry host> -u %s\n", res.User)
	}
	return exitOK
}
