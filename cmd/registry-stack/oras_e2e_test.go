package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// TestOrasCopy: oras pushes an artifact and copies it between repositories
// in every auth mode. oras asks for one token with two scope parameters;
// Keycloak reads only the first, so in keycloak mode the token endpoint
// joins them.
func TestOrasCopy(t *testing.T) {
	if _, err := exec.LookPath("oras"); err != nil {
		testenv.Missing(t, "oras (go install oras.land/oras/cmd/oras@v1.3.6; scripts/deps.sh does)")
	}
	modes := []struct {
		name     string
		start    func(t *testing.T) (st *stackrun.Stack, user, password string)
		src, dst string
	}{
		{"none", func(t *testing.T) (*stackrun.Stack, string, string) { return stackrun.Start(t, nil), "", "" }, "team/src", "team/dst"},
		{"keycloak", func(t *testing.T) (*stackrun.Stack, string, string) {
			realm, st := keycloakStack(t, "rs-oras")
			return st, realm.User, realm.Password
		}, "team/src", "team/dst"},
		{"oidc", func(t *testing.T) (*stackrun.Stack, string, string) {
			s := newOIDCSetup(t, "rs-oras-oidc")
			return s.start(t, nil), "alice", "alice-password"
		}, "team-a/src", "team-a/dst"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			st, user, password := m.start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "sbom.json"), []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			creds := func(prefix string) []string {
				if user == "" {
					return nil
				}
				return []string{"--" + prefix + "username", user, "--" + prefix + "password", password}
			}
			oras := func(args ...string) string {
				t.Helper()
				cmd := exec.CommandContext(ctx, "oras", args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "HOME="+dir)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("oras %s: %v\n%s%s", args[0], err, out, stderr.String())
				}
				return string(out)
			}
			src, dst := st.Addr+"/"+m.src+":v1", st.Addr+"/"+m.dst+":v1"
			oras(append([]string{"push", "--plain-http", "--artifact-type", "application/spdx+json", src, "sbom.json:application/spdx+json"}, creds("")...)...)
			oras(append(append([]string{"cp", "--from-plain-http", "--to-plain-http", src, dst}, creds("from-")...), creds("to-")...)...)
			want := oras(append([]string{"resolve", "--plain-http", src}, creds("")...)...)
			got := oras(append([]string{"resolve", "--plain-http", dst}, creds("")...)...)
			if strings.TrimSpace(got) != strings.TrimSpace(want) || !strings.HasPrefix(strings.TrimSpace(got), "sha256:") {
				t.Errorf("copy resolves to %q, the source to %q", got, want)
			}
		})
	}
}
