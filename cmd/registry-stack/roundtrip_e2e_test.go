package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// airGapRoundTrip exports newExportFixture's index, image (with its
// signed SBOM) and artifact from a stack outside the namespace, as a
// directory and as a .tar, and imports each into a fresh stack inside it
// with `registry-stack import` run inside too: every manifest arrives
// byte for byte, the referrers are listed by subject, crane validates
// the images from inside, and neither the stack nor the import looks up
// a name.
func airGapRoundTrip(t *testing.T, ctx context.Context, a *airGap) {
	needTools(t, "oras", "crane")
	crane, _ := exec.LookPath("crane")
	f := newExportFixture(t, ctx)
	bundles := []struct{ name, path, prefix string }{
		{"directory", filepath.Join(t.TempDir(), "bundle"), ""},
		// Imported under a prefix, as a lab re-homes what it receives.
		{"tar", filepath.Join(t.TempDir(), "bundle.tar"), "lab"},
	}
	for _, b := range bundles {
		code, stdout, stderr := stackrun.RunCLI(t, nil, "export", "--output", b.path, f.multi.String(), f.app.String(), f.art.String())
		if code != exitOK {
			t.Fatalf("export --output %s: exit %d\n%s%s", b.path, code, stdout, stderr)
		}
	}
	// What A holds, by the name the bundle gives it: the three tags, the
	// platform manifests and the three referrers by digest.
	want := map[string]v1.Hash{
		"team/multi:1.0":                     f.multiDig,
		"team/app:1.0":                       f.appDigest,
		"team/artifact:v1":                   digestAt(t, ctx, f.art.String()),
		"team/app@" + f.sbom.String():        f.sbom,
		"team/app@" + f.sbomSig.String():     f.sbomSig,
		"team/multi@" + f.childSBOM.String(): f.childSBOM,
	}
	for _, c := range f.children {
		want["team/multi@"+c.String()] = c
	}
	// Each subject's referrers, with the artifact type A lists.
	subjects := []struct {
		repo         string
		subject, ref v1.Hash
		artifactType string
	}{
		{"team/app", f.appDigest, f.sbom, "application/spdx+json"},
		{"team/app", f.sbom, f.sbomSig, "application/vnd.example.sig"},
		{"team/multi", f.children[0], f.childSBOM, "application/spdx+json"},
	}
	for _, s := range subjects {
		got := referrersOf(t, ctx, f.st.Addr, s.repo, s.subject)
		if !slices.Contains(got, referrerEntry{s.ref, s.artifactType}) {
			t.Fatalf("stack A lists referrers %v of %s@%s, want %s (%s)", got, s.repo, s.subject, s.ref, s.artifactType)
		}
	}

	for _, b := range bundles {
		t.Run(b.name, func(t *testing.T) {
			st := a.start(t)
			args := []string{"import", "--to", st.Addr}
			if b.prefix != "" {
				args = append(args, "--prefix", b.prefix)
			}
			out := a.cli(t, append(args, b.path)...)
			if !strings.Contains(out, "images: 6 imported, 0 failed") {
				t.Errorf("import report lacks 6 imported, 0 failed:\n%s", out)
			}
			at := func(n string) string {
				if b.prefix != "" {
					n = b.prefix + "/" + n
				}
				return st.Addr + "/" + n
			}
			for n, d := range want {
				ref, err := name.ParseReference(at(n), name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				desc, err := remote.Get(ref, a.remote(), remote.WithContext(ctx))
				if err != nil {
					t.Errorf("get %s from the air-gapped stack: %v", ref, err)
					continue
				}
				// The bytes served, not just the digest header: the
				// manifest must be A's byte for byte.
				if got := rawDigest(t, string(desc.Manifest)); got != d || desc.Digest != d {
					t.Errorf("%s: manifest digest %s (header %s), stack A's %s", ref, got, desc.Digest, d)
				}
			}
			for _, s := range subjects {
				repo := strings.TrimPrefix(at(s.repo), st.Addr+"/")
				got := referrersOf(t, ctx, st.Addr, repo, s.subject, a.remote())
				wantRefs := referrersOf(t, ctx, f.st.Addr, s.repo, s.subject)
				if !slices.Equal(got, wantRefs) {
					t.Errorf("referrers of %s@%s: %v, stack A's %v", repo, s.subject, got, wantRefs)
				}
			}
			// crane reads every blob back and checks its digest (and each
			// layer's diff ID), from inside the namespace.
			for _, n := range []string{"team/multi:1.0", "team/app:1.0"} {
				p := a.ns.Prefix()
				out := runTool(t, ctx, p[0], append(p[1:], crane, "validate", "--insecure", "--remote", at(n))...)
				if !strings.HasPrefix(out, "PASS: ") {
					t.Errorf("crane validate %s: %q, want PASS", at(n), out)
				}
			}
			a.checkOffline(t, st)
		})
	}
}

// referrerEntry is what a referrers list says of one referrer.
type referrerEntry struct {
	digest       v1.Hash
	artifactType string
}

// referrersOf lists the referrers of repo@subject at addr, sorted by
// digest.
func referrersOf(t *testing.T, ctx context.Context, addr, repo string, subject v1.Hash, opts ...remote.Option) []referrerEntry {
	t.Helper()
	d, err := name.NewDigest(addr+"/"+repo+"@"+subject.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(d, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		t.Fatalf("referrers of %s: %v", d, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []referrerEntry
	for _, r := range m.Manifests {
		out = append(out, referrerEntry{r.Digest, r.ArtifactType})
	}
	slices.SortFunc(out, func(x, y referrerEntry) int { return strings.Compare(x.digest.String(), y.digest.String()) })
	return out
}
