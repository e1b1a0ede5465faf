package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// orasCLI runs oras in dir, logged in as l.
type orasCLI struct {
	t   *testing.T
	ctx context.Context
	dir string
	l   clientLogin
}

// creds are the login flags, with a prefix for copy's "from-" and "to-".
func (o orasCLI) creds(prefix string) []string {
	if o.l.user == "" {
		return nil
	}
	return []string{"--" + prefix + "username", o.l.user, "--" + prefix + "password", o.l.password}
}

// run runs oras with args and the login, and returns its output.
func (o orasCLI) run(args ...string) string {
	o.t.Helper()
	cmd := exec.CommandContext(o.ctx, "oras", args...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), "HOME="+o.dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		o.t.Fatalf("oras %s: %v\n%s%s", args[0], err, out, stderr.String())
	}
	return string(out)
}

func newOras(t *testing.T, ctx context.Context, l clientLogin, files map[string]string) orasCLI {
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return orasCLI{t, ctx, dir, l}
}

// TestOrasCopy: oras pushes an artifact and copies it between repositories
// in every auth mode. oras asks for one token with two scope parameters;
// Keycloak reads only the first, so in keycloak mode the token endpoint
// joins them.
func TestOrasCopy(t *testing.T) {
	inEachAuthMode(t, "oras", func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin) {
		o := newOras(t, ctx, l, map[string]string{"sbom.json": `{"spdxVersion":"SPDX-2.3"}`})
		src, dst := st.Addr+"/"+l.namespace+"/src:v1", st.Addr+"/"+l.namespace+"/dst:v1"
		o.run(append([]string{"push", "--plain-http", "--artifact-type", "application/spdx+json", src, "sbom.json:application/spdx+json"}, o.creds("")...)...)
		o.run(append(append([]string{"cp", "--from-plain-http", "--to-plain-http", src, dst}, o.creds("from-")...), o.creds("to-")...)...)
		want := o.run(append([]string{"resolve", "--plain-http", src}, o.creds("")...)...)
		got := o.run(append([]string{"resolve", "--plain-http", dst}, o.creds("")...)...)
		if strings.TrimSpace(got) != strings.TrimSpace(want) || !strings.HasPrefix(strings.TrimSpace(got), "sha256:") {
			t.Errorf("copy resolves to %q, the source to %q", got, want)
		}
	})
}

// TestOrasReferrers: oras attaches an SBOM and a signature to an image,
// discovers both (and one with --artifact-type), and copies the image with
// its referrers to a second repository, in every auth mode; no referrers
// fallback tag appears.
func TestOrasReferrers(t *testing.T) {
	const sbomType, sigType = "application/spdx+json", "application/vnd.example.signature"
	inEachAuthMode(t, "oras", func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin) {
		o := newOras(t, ctx, l, map[string]string{"app.txt": "app", "sbom.json": `{"spdxVersion":"SPDX-2.3"}`, "sig.txt": "signature"})
		img, copied := st.Addr+"/"+l.namespace+"/attached:v1", st.Addr+"/"+l.namespace+"/attached-copy:v1"
		o.run(append([]string{"push", "--plain-http", img, "app.txt:text/plain"}, o.creds("")...)...)
		o.run(append([]string{"attach", "--plain-http", "--artifact-type", sbomType, img, "sbom.json:" + sbomType}, o.creds("")...)...)
		o.run(append([]string{"attach", "--plain-http", "--artifact-type", sigType, img, "sig.txt"}, o.creds("")...)...)

		discover := func(ref string, extra ...string) []string {
			t.Helper()
			out := o.run(append(append([]string{"discover", "--plain-http", "--format", "json", ref}, extra...), o.creds("")...)...)
			var tree struct {
				Referrers []struct {
					ArtifactType string `json:"artifactType"`
				} `json:"referrers"`
			}
			if err := json.Unmarshal([]byte(out), &tree); err != nil {
				t.Fatalf("oras discover output: %v\n%s", err, out)
			}
			var types []string
			for _, r := range tree.Referrers {
				types = append(types, r.ArtifactType)
			}
			slices.Sort(types)
			return types
		}
		if got := discover(img); !slices.Equal(got, []string{sbomType, sigType}) {
			t.Errorf("discover: %v, want the SBOM and the signature", got)
		}
		if got := discover(img, "--artifact-type", sigType); !slices.Equal(got, []string{sigType}) {
			t.Errorf("discover --artifact-type %s: %v", sigType, got)
		}
		o.run(append(append([]string{"cp", "-r", "--from-plain-http", "--to-plain-http", img, copied}, o.creds("from-")...), o.creds("to-")...)...)
		if got := discover(copied); !slices.Equal(got, []string{sbomType, sigType}) {
			t.Errorf("discover on the copy: %v, want the SBOM and the signature", got)
		}
		if tags := strings.Fields(o.run(append([]string{"repo", "tags", "--plain-http", strings.TrimSuffix(img, ":v1")}, o.creds("")...)...)); !slices.Equal(tags, []string{"v1"}) {
			t.Errorf("tags %v, want only v1 (no referrers fallback tag)", tags)
		}
	})
}
