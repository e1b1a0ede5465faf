package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/bundle"
	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

func pushRandom(t *testing.T, ctx context.Context, ref name.Tag) v1.Hash {
	t.Helper()
	img, err := random.Image(32<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

// mirrorCounts runs mirror with args and returns its copied, unchanged and
// failed counts.
func mirrorCounts(t *testing.T, args ...string) (copied, unchanged, failed string) {
	t.Helper()
	code, stdout, stderr := stackrun.RunCLI(t, nil, append([]string{"mirror"}, args...)...)
	if code != exitOK {
		t.Fatalf("mirror %v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	m := regexp.MustCompile(`mirror: (\d+) copied, (\d+) unchanged, (\d+) failed`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no mirror summary in %q", stdout)
	}
	return m[1], m[2], m[3]
}

// TestMirror keeps a second stack and a bundle in step with tags of an
// upstream stack selected by exact tag, semver range and regex: a first
// run copies them with their referrers, a second copies nothing, and
// after a tag moves upstream only that tag is copied.
func TestMirror(t *testing.T) {
	needTools(t, "oras")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	up, down := stackrun.Start(t, nil), stackrun.Start(t, nil)
	upRepo, _ := name.NewRepository(up.Addr+"/team/app", name.Insecure)
	digests := map[string]v1.Hash{}
	for _, tag := range []string{"1.0.0", "1.2.0", "v1.3.1", "2.0.0", "latest", "nightly-7", "scratch"} {
		digests[tag] = pushRandom(t, ctx, upRepo.Tag(tag))
	}
	o := newOras(t, ctx, clientLogin{namespace: "team"}, map[string]string{"sbom.json": `{"spdxVersion":"SPDX-2.3"}`})
	sbom := onlyReferrer(t, ctx, o, upRepo.Digest(digests["1.2.0"].String()), "application/spdx+json", "sbom.json")
	// An index whose platform manifest has a referrer of its own.
	multiRepo, _ := name.NewRepository(up.Addr+"/team/multi", name.Insecure)
	idx := platformIndex(t)
	if err := remote.WriteIndex(multiRepo.Tag("1.0"), idx, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	multiDigest, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	child := im.Manifests[1].Digest
	childSBOM := onlyReferrer(t, ctx, o, multiRepo.Digest(child.String()), "application/spdx+json", "sbom.json")

	list := filepath.Join(t.TempDir(), "mirror.yaml")
	writeFile(t, list, `repositories:
  - repository: `+up.Addr+`/team/app
    tags: [latest]
    semver: ">=1.1, <2"
    regex: "^nightly-"
    to: lab/app
  - repository: `+up.Addr+`/team/multi
    tags: ["1.0"]
`)
	selected := []string{"1.2.0", "v1.3.1", "latest", "nightly-7"}
	dir := filepath.Join(t.TempDir(), "bundle")
	dests := []struct {
		name string
		args []string
		has  func(t *testing.T, tag string) (v1.Hash, bool)
	}{
		{"registry", []string{"--to", down.Addr, "--to-insecure"}, func(t *testing.T, tag string) (v1.Hash, bool) {
			d, err := remote.Head(mustTag(t, down.Addr+"/lab/app:"+tag), remote.WithContext(ctx))
			if err != nil {
				return v1.Hash{}, false
			}
			return d.Digest, true
		}},
		{"bundle", []string{"--output", dir}, func(t *testing.T, tag string) (v1.Hash, bool) {
			lp, err := layout.FromPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := lp.ImageIndex()
			if err != nil {
				t.Fatalf("bundle %s: %v", dir, err)
			}
			m, err := idx.IndexManifest()
			if err != nil {
				t.Fatalf("bundle %s: %v", dir, err)
			}
			for _, d := range m.Manifests {
				if d.Annotations[bundle.AnnotationRefName] == "lab/app:"+tag {
					return d.Digest, true
				}
			}
			return v1.Hash{}, false
		}},
	}
	check := func(t *testing.T, has func(*testing.T, string) (v1.Hash, bool)) {
		t.Helper()
		for _, tag := range selected {
			if got, ok := has(t, tag); !ok || got != digests[tag] {
				t.Errorf("lab/app:%s at the destination: %v (%v), want %v", tag, got, ok, digests[tag])
			}
		}
		for _, tag := range []string{"1.0.0", "2.0.0", "scratch"} {
			if _, ok := has(t, tag); ok {
				t.Errorf("lab/app:%s was mirrored, the list does not select it", tag)
			}
		}
	}
	for _, d := range dests {
		t.Run(d.name+" first run", func(t *testing.T) {
			c, u, f := mirrorCounts(t, append([]string{"--list", list, "--insecure"}, d.args...)...)
			if c != "5" || u != "0" || f != "0" {
				t.Fatalf("first run: %s copied, %s unchanged, %s failed; want 5, 0, 0", c, u, f)
			}
			check(t, d.has)
		})
	}
	t.Run("referrer copied", func(t *testing.T) {
		got := clientscenarios.ReferrerDigests(t, ctx, mustTag(t, down.Addr+"/lab/app:1.2.0").Context().Digest(digests["1.2.0"].String()))
		if len(got) != 1 || got[0] != sbom {
			t.Errorf("referrers at the destination registry: %v, want [%v]", got, sbom)
		}
		if got := digestAt(t, ctx, down.Addr+"/team/multi:1.0"); got != multiDigest {
			t.Errorf("team/multi:1.0 at the destination registry: %v, want %v", got, multiDigest)
		}
		got = clientscenarios.ReferrerDigests(t, ctx, mustTag(t, down.Addr+"/team/multi:1.0").Context().Digest(child.String()))
		if len(got) != 1 || got[0] != childSBOM {
			t.Errorf("referrers of the platform manifest at the destination registry: %v, want [%v]", got, childSBOM)
		}
		b := readFileString(t, filepath.Join(dir, "index.json"))
		for _, want := range []string{`"lab/app@` + sbom.String() + `"`, `"team/multi:1.0"`, `"team/multi@` + childSBOM.String() + `"`} {
			if !strings.Contains(b, want) {
				t.Errorf("bundle index.json has no entry %s:\n%s", want, b)
			}
		}
	})
	// A signature added upstream to a tag that does not move is copied
	// by the next run, though the tag itself is not.
	sig := onlyReferrer(t, ctx, o, upRepo.Digest(digests["v1.3.1"].String()), "application/vnd.example.signature", "sbom.json")
	for _, d := range dests {
		t.Run(d.name+" second run copies nothing", func(t *testing.T) {
			c, u, f := mirrorCounts(t, append([]string{"--list", list, "--insecure"}, d.args...)...)
			if c != "0" || u != "5" || f != "0" {
				t.Fatalf("second run: %s copied, %s unchanged, %s failed; want 0, 5, 0", c, u, f)
			}
		})
	}
	t.Run("new referrer of an unchanged tag copied", func(t *testing.T) {
		got := clientscenarios.ReferrerDigests(t, ctx, mustTag(t, down.Addr+"/lab/app:v1.3.1").Context().Digest(digests["v1.3.1"].String()))
		if len(got) != 1 || got[0] != sig {
			t.Errorf("referrers of lab/app:v1.3.1 at the destination registry: %v, want [%v]", got, sig)
		}
		if b, want := readFileString(t, filepath.Join(dir, "index.json")), `"lab/app@`+sig.String()+`"`; !strings.Contains(b, want) {
			t.Errorf("bundle index.json has no entry %s:\n%s", want, b)
		}
	})
	digests["latest"] = pushRandom(t, ctx, upRepo.Tag("latest"))
	for _, d := range dests {
		t.Run(d.name+" after a retag only that tag", func(t *testing.T) {
			c, u, f := mirrorCounts(t, append([]string{"--list", list, "--insecure"}, d.args...)...)
			if c != "1" || u != "4" || f != "0" {
				t.Fatalf("after retagging latest: %s copied, %s unchanged, %s failed; want 1, 4, 0", c, u, f)
			}
			check(t, d.has)
		})
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func readFileString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMirrorUsage: a bad --to or list exits 2 naming the flag, the file
// and the entry at fault, before anything is fetched.
func TestMirrorUsage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, "repositories:\n- repository: 127.0.0.1:1/team/app\n  tags: [\"1\"]\n")
	badTo := filepath.Join(dir, "bad-to.yaml")
	writeFile(t, badTo, "repositories:\n- repository: 127.0.0.1:1/team/app\n  tags: [\"1\"]\n  to: localhost/app\n")
	big := filepath.Join(dir, "big.yaml")
	writeFile(t, big, "repositories:\n- repository: 127.0.0.1:1/team/app\n  tags: [\"1\"]\n#"+strings.Repeat("x", 1<<20)+"\n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--list", good, "--to", "127.0.0.1:1/lab"}, `--to "127.0.0.1:1/lab": want HOST[:PORT]`},
		{[]string{"--list", good, "--to", "user@127.0.0.1:1"}, `--to "user@127.0.0.1:1": want HOST[:PORT]`},
		{[]string{"--list", badTo, "--output", dir}, `--list ` + badTo + `: repositories[0] (127.0.0.1:1/team/app): to "localhost/app": "localhost" names a registry host`},
		{[]string{"--list", big, "--output", dir}, `--list ` + big + `: mirror list is larger than 1 MiB`},
	} {
		code, _, stderr := stackrun.RunCLI(t, nil, append([]string{"mirror"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("mirror %v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
