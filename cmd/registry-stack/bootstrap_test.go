package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBootstrapUsageErrors: what the bootstrap package refuses is a usage
// error (exit 2) on one line that names the flag to fix.
func TestBootstrapUsageErrors(t *testing.T) {
	// The environment fills what the flags leave empty; keep it out.
	for _, env := range []string{"REGISTRY_STACK_KEYCLOAK_URL", "KEYCLOAK_ADMIN_USER", "KEYCLOAK_ADMIN_PASSWORD"} {
		t.Setenv(env, "")
	}
	conn := []string{"--keycloak-url", "http://127.0.0.1:1", "--admin-user", "admin", "--admin-password", "s3cret-admin"}
	target := []string{"--realm", "r", "--service", "s"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing given", nil, "missing --keycloak-url, --admin-user, --admin-password, --realm, --service"},
		{"no realm and service", conn, "missing --realm, --service"},
		{"blank realm", append(append([]string{}, conn...), "--realm", " ", "--service", "s"), "missing --realm"},
		{"user without password", append(append(append([]string{}, conn...), target...), "--user", "u"), "--user and --password must be given together"},
		{"not an http URL", append([]string{"--keycloak-url", "ftp://kc", "--admin-user", "a", "--admin-password", "p"}, target...), `--keycloak-url: "ftp://kc" must start with http:// or https://`},
		{"negative timeout", append(append(append([]string{}, conn...), target...), "--timeout", "-1s"), "--timeout must not be negative"},
		{"unknown flag", []string{"--relam", "r"}, "flag provided but not defined: -relam"},
		{"extra argument", append(append(append([]string{}, conn...), target...), "now"), `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runBootstrap(context.Background(), tt.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, exitUsage, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(stderr.String(), tt.want) || !strings.HasPrefix(stderr.String(), "registry-stack bootstrap: ") {
				t.Errorf("stderr = %q, want one line with %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if strings.Contains(stderr.String(), "s3cret-admin") {
				t.Errorf("the admin password is printed: %q", stderr.String())
			}
		})
	}
}
