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

// TestPodman: podman login, pull, push and search, in keycloak and oidc
// mode. No container runs: podman is only the registry client here, with a
// storage of its own. search asks /v1/search first and falls back to the
// catalog only on a non-200, which is why protocol paths never get the UI.
func TestPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		testenv.Missing(t, "podman (apt-get install podman; scripts/deps.sh does)")
	}
	for _, m := range []struct {
		name           string
		start          func(t *testing.T) (*stackrun.Stack, string, string)
		repo, copyRepo string
	}{
		{"keycloak", func(t *testing.T) (*stackrun.Stack, string, string) {
			realm, st := keycloakStack(t, "rs-podman")
			return st, realm.User, realm.Password
		}, "team/app", "team/copy"},
		{"oidc", func(t *testing.T) (*stackrun.Stack, string, string) {
			s := newOIDCSetup(t, "rs-podman-oidc")
			return s.start(t, nil), "alice", "alice-password"
		}, "team-a/app", "team-a/copy"},
	} {
		t.Run(m.name, func(t *testing.T) {
			st, user, password := m.start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			seedAs(t, ctx, st, user, password, m.repo)
			dir := t.TempDir()
			podman := func(args ...string) string {
				t.Helper()
				full := append([]string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}, args...)
				cmd := exec.CommandContext(ctx, "podman", full...)
				cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+filepath.Join(dir, "auth.json"), "HOME="+dir)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("podman %s: %v\n%s", args[0], err, out)
				}
				return string(out)
			}
			podman("login", "--tls-verify=false", "-u", user, "-p", password, st.Addr)
			podman("pull", "--tls-verify=false", st.Addr+"/"+m.repo+":v1")
			podman("tag", st.Addr+"/"+m.repo+":v1", st.Addr+"/"+m.copyRepo+":v1")
			podman("push", "--tls-verify=false", st.Addr+"/"+m.copyRepo+":v1")
			out := podman("search", "--tls-verify=false", st.Addr+"/"+strings.Split(m.repo, "/")[0])
			for _, want := range []string{st.Addr + "/" + m.repo, st.Addr + "/" + m.copyRepo} {
				if !strings.Contains(out, want) {
					t.Errorf("podman search does not list %s:\n%s", want, out)
				}
			}
		})
	}
}
