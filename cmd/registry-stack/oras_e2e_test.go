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

// TestOrasCopy: oras pushes an artifact and copies it between repositories
// in every auth mode. oras asks for one token with two scope parameters;
// Keycloak reads only the first, so in keycloak mode the token endpoint
// joins them.
func TestOrasCopy(t *testing.T) {
	inEachAuthMode(t, "oras", func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "sbom.json"), []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		creds := func(prefix string) []string {
			if l.user == "" {
				return nil
			}
			return []string{"--" + prefix + "username", l.user, "--" + prefix + "password", l.password}
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
		src, dst := st.Addr+"/"+l.namespace+"/src:v1", st.Addr+"/"+l.namespace+"/dst:v1"
		oras(append([]string{"push", "--plain-http", "--artifact-type", "application/spdx+json", src, "sbom.json:application/spdx+json"}, creds("")...)...)
		oras(append(append([]string{"cp", "--from-plain-http", "--to-plain-http", src, dst}, creds("from-")...), creds("to-")...)...)
		want := oras(append([]string{"resolve", "--plain-http", src}, creds("")...)...)
		got := oras(append([]string{"resolve", "--plain-http", dst}, creds("")...)...)
		if strings.TrimSpace(got) != strings.TrimSpace(want) || !strings.HasPrefix(strings.TrimSpace(got), "sha256:") {
			t.Errorf("copy resolves to %q, the source to %q", got, want)
		}
	})
}
