package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/scope"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

const policyUsage = `Usage: registry-stack policy explain --config FILE (--user NAME | --anonymous)
         [--group G]... [--role R]... [--client-role CLIENT/ROLE]... --scope SCOPE [--scope SCOPE]...

Prints, for each scope, "allow" or "deny" as the first word, the actions
granted, and the policy rule that decided. Exits 0 either way.

With --live (and --admin-user, --admin-password or KEYCLOAK_ADMIN_USER,
KEYCLOAK_ADMIN_PASSWORD), the user's groups and roles are looked up in the
Keycloak that keycloak.url and keycloak.realm name, instead of given.
`

// runPolicy dispatches "policy" subcommands.
func runPolicy(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "explain" {
		fmt.Fprint(stderr, policyUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage) }
	file := fs.String("config", "", "YAML config `file` holding the policy section")
	user := fs.String("user", "", "user `name` (preferred_username; a robot is service-account-<client id>)")
	anon := fs.Bool("anonymous", false, "explain for a request without credentials")
	live := fs.Bool("live", false, "look the user's groups and roles up in Keycloak")
	kcURL := fs.String("keycloak-url", "", "Keycloak base `URL` for --live (default: the config's keycloak.url)")
	kcRealm := fs.String("keycloak-realm", "", "realm `name` for --live (default: the config's keycloak.realm)")
	adminUser := fs.String("admin-user", "", "Keycloak admin `user` for --live [KEYCLOAK_ADMIN_USER]")
	adminPassword := fs.String("admin-password", "", "Keycloak admin `password` for --live [KEYCLOAK_ADMIN_PASSWORD]")
	var groups, roles, clientRoles, scopes listFlag
	fs.Var(&groups, "group", "a group `path` such as /team-a (repeatable)")
	fs.Var(&roles, "role", "a realm `role` (repeatable)")
	fs.Var(&clientRoles, "client-role", "a client role as `client/role` (repeatable)")
	fs.Var(&scopes, "scope", "a token `scope` such as repository:team-a/app:push (repeatable)")
	if code, ok := parseFlags(fs, args[1:], stderr); !ok {
		return code
	}
	if len(scopes) == 0 || (*user == "") == !*anon {
		fmt.Fprintf(stderr, "registry-stack policy explain: give --scope and one of --user or --anonymous\n\n%s", policyUsage)
		return exitUsage
	}
	// Only the policy is needed, whatever auth mode the file is for.
	cfg := config.Default()
	if *file != "" {
		if err := cfg.LoadFile(*file); err != nil {
			return fail(stderr, "registry-stack policy explain", err)
		}
	}
	if err := cfg.LoadEnv(environ); err != nil {
		return fail(stderr, "registry-stack policy explain", err)
	}
	p, err := cfg.CompilePolicy()
	if err != nil {
		return fail(stderr, "registry-stack policy explain", err)
	}
	subject := policy.Subject{Anonymous: *anon, User: *user, Groups: groups, RealmRoles: roles}
	for _, cr := range clientRoles {
		// Split at the last '/', as the policy does: a client id may be a URL.
		i := strings.LastIndexByte(cr, '/')
		client, role := "", ""
		if i >= 0 {
			client, role = cr[:i], cr[i+1:]
		}
		if client == "" || role == "" {
			fmt.Fprintf(stderr, "registry-stack policy explain: --client-role %q: want client/role\n", cr)
			return exitUsage
		}
		if subject.ClientRoles == nil {
			subject.ClientRoles = map[string][]string{}
		}
		subject.ClientRoles[client] = append(subject.ClientRoles[client], role)
	}
	if *live {
		conn := liveLookup{
			url: firstNonEmpty(*kcURL, cfg.Keycloak.URL), realm: firstNonEmpty(*kcRealm, cfg.Keycloak.Realm),
			adminUser:     firstNonEmpty(*adminUser, envValue(environ, "KEYCLOAK_ADMIN_USER")),
			adminPassword: firstNonEmpty(*adminPassword, envValue(environ, "KEYCLOAK_ADMIN_PASSWORD")),
		}
		if subject, err = conn.subject(ctx, *user); err != nil {
			return fail(stderr, "registry-stack policy explain", err)
		}
		fmt.Fprintf(stdout, "# %s in Keycloak: groups %v, realm roles %v, client roles %v\n", *user, subject.Groups, subject.RealmRoles, subject.ClientRoles)
	}
	for _, raw := range scopes {
		sc, err := scope.Parse(raw)
		if err != nil {
			fmt.Fprintf(stdout, "deny %s: %v\n", raw, err)
			continue
		}
		g, rule := p.Grant(subject, sc)
		verdict := "allow"
		if len(g.Actions) < len(sc.Actions) {
			verdict = "deny"
		}
		granted := "nothing"
		if len(g.Actions) > 0 {
			granted = strings.Join(g.Actions, ",")
		}
		fmt.Fprintf(stdout, "%s %s (granted: %s) by %s\n", verdict, sc, granted, rule)
	}
	return exitOK
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func envValue(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
