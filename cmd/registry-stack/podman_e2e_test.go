package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// TestPodman: podman login, pull, push and search, in every auth mode. No
// container runs: podman is only the registry client here, with a storage
// of its own. search asks /v1/search first and falls back to the catalog
// only on a non-200, which is why protocol paths never get the UI.
func TestPodman(t *testing.T) {
	inEachAuthMode(t, "podman", func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin) {
		repo, copyRepo := l.namespace+"/app", l.namespace+"/copy"
		seedAs(t, ctx, st, l.user, l.password, repo)
		dir := t.TempDir()
		auth := filepath.Join(dir, "auth.json")
		if err := os.WriteFile(auth, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		podman := func(args ...string) string {
			t.Helper()
			full := append([]string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}, args...)
			cmd := exec.CommandContext(ctx, "podman", full...)
			cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+auth, "HOME="+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("podman %s: %v\n%s", args[0], err, out)
			}
			return string(out)
		}
		if l.user != "" {
			podman("login", "--tls-verify=false", "-u", l.user, "-p", l.password, st.Addr)
		}
		podman("pull", "--tls-verify=false", st.Addr+"/"+repo+":v1")
		podman("tag", st.Addr+"/"+repo+":v1", st.Addr+"/"+copyRepo+":v1")
		podman("push", "--tls-verify=false", st.Addr+"/"+copyRepo+":v1")
		out := podman("search", "--tls-verify=false", st.Addr+"/"+l.namespace)
		for _, want := range []string{st.Addr + "/" + repo, st.Addr + "/" + copyRepo} {
			if !strings.Contains(out, want) {
				t.Errorf("podman search does not list %s:\n%s", want, out)
			}
		}
	})
}
