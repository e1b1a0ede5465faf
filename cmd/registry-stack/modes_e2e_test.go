package main

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// clientLogin is how a client test logs in to a stack, and the repository
// namespace that login may pull from and push to.
type clientLogin struct {
	user, password string // empty in auth mode none
	namespace      string
}

// inEachAuthMode runs test against a fresh stack in every auth mode: none,
// keycloak (a scratch realm's user) and oidc (alice of the demo layout,
// whose team namespace is team-a). tool, when not empty, is a command the
// test needs on PATH.
func inEachAuthMode(t *testing.T, tool string, test func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin)) {
	t.Helper()
	if tool != "" {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool+" (scripts/deps.sh installs it)")
		}
	}
	modes := []struct {
		name  string
		start func(t *testing.T) (*stackrun.Stack, clientLogin)
	}{
		{"none", func(t *testing.T) (*stackrun.Stack, clientLogin) {
			return stackrun.Start(t, nil), clientLogin{namespace: "team"}
		}},
		{"keycloak", func(t *testing.T) (*stackrun.Stack, clientLogin) {
			realm, st := keycloakStack(t, "rs-clients")
			return st, clientLogin{realm.User, realm.Password, "team"}
		}},
		{"oidc", func(t *testing.T) (*stackrun.Stack, clientLogin) {
			s := newOIDCSetup(t, "rs-clients-oidc")
			return s.start(t, nil), clientLogin{"alice", "alice-password", "team-a"}
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			st, l := m.start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			test(t, ctx, st, l)
		})
	}
}
