package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/registry-stack/registry-stack/internal/bundle"
	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/export"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// exportFixture is what TestExport pushes to a stack in auth mode none.
type exportFixture struct {
	st                  *stackrun.Stack
	multi, app, art     name.Tag
	appDigest, multiDig v1.Hash
	children            []v1.Hash // the index's platform manifests
	sbom, sbomSig       v1.Hash   // a referrer of app, and one of the SBOM
	childSBOM           v1.Hash   // a referrer of the index's first child
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool+" (scripts/deps.sh installs it)")
		}
	}
}

// onlyReferrer attaches one artifact to subject with oras and returns its
// digest, read back from the registry's referrers list.
func onlyReferrer(t *testing.T, ctx context.Context, o orasCLI, subject name.Digest, artifactType, file string) v1.Hash {
	t.Helper()
	before := clientscenarios.ReferrerDigests(t, ctx, subject)
	o.run("attach", "--plain-http", "--artifact-type", artifactType, subject.String(), file+":"+artifactType)
	for _, d := range clientscenarios.ReferrerDigests(t, ctx, subject) {
		if !slices.Contains(before, d) {
			return d
		}
	}
	t.Fatalf("no new referrer of %s after oras attach", subject)
	return v1.Hash{}
}

// platformIndex is an OCI index of two random images whose configs name
// their platforms, as validate.Index wants.
func platformIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(64<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
		platform := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	return idx
}

func newExportFixture(t *testing.T, ctx context.Context) exportFixture {
	t.Helper()
	f := exportFixture{st: stackrun.Start(t, nil)}
	reg, _ := name.NewRegistry(f.st.Addr, name.Insecure)
	f.multi, f.app, f.art = reg.Repo("team", "multi").Tag("1.0"), reg.Repo("team", "app").Tag("1.0"), reg.Repo("team", "artifact").Tag("v1")

	idx := platformIndex(t)
	if err := remote.WriteIndex(f.multi, idx, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	f.multiDig, _ = idx.Digest()
	im, _ := idx.IndexManifest()
	for _, c := range im.Manifests {
		f.children = append(f.children, c.Digest)
	}
	img, err := random.Image(256<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	// OCI media types: skopeo 1.9's oci: transport skips index.json
	// entries of Docker manifests ("no descriptor found").
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	if err := remote.Write(f.app, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	f.appDigest, _ = img.Digest()

	o := newOras(t, ctx, clientLogin{namespace: "team"}, map[string]string{
		"sbom.json": `{"spdxVersion":"SPDX-2.3"}`, "sig.json": `{"signature":"x"}`, "notes.txt": "release notes",
	})
	o.run("push", "--plain-http", "--artifact-type", "application/vnd.example.notes", f.art.String(), "notes.txt:text/plain")
	f.sbom = onlyReferrer(t, ctx, o, f.app.Context().Digest(f.appDigest.String()), "application/spdx+json", "sbom.json")
	f.sbomSig = onlyReferrer(t, ctx, o, f.app.Context().Digest(f.sbom.String()), "application/vnd.example.sig", "sig.json")
	f.childSBOM = onlyReferrer(t, ctx, o, f.multi.Context().Digest(f.children[0].String()), "application/spdx+json", "sbom.json")
	return f
}

// summary reads the counts of the export summary line.
func summary(t *testing.T, stdout string) (images, written, skipped int) {
	t.Helper()
	m := regexp.MustCompile(`(\d+) images, (\d+) blobs written, (\d+) blobs skipped`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in %q", stdout)
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	return a, b, c
}

// checkLayout checks every blob's digest, and that index.json names each
// image and referrer with both annotations and points at what f pushed.
func checkLayout(t *testing.T, dir string, f exportFixture) {
	t.Helper()
	blobs, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("no blobs in %s (%v)", dir, err)
	}
	for _, p := range blobs {
		if strings.HasPrefix(filepath.Base(p), ".") {
			t.Errorf("temp file left in the layout: %s", p)
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != filepath.Base(p) {
			t.Errorf("blob %s has digest sha256:%x", filepath.Base(p), sum)
		}
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]v1.Descriptor{}
	for _, d := range im.Manifests {
		if d.Annotations[bundle.AnnotationRefName] != d.Annotations[bundle.AnnotationImageName] {
			t.Errorf("entry %s: ref.name %q, image.name %q differ", d.Digest, d.Annotations[bundle.AnnotationRefName], d.Annotations[bundle.AnnotationImageName])
		}
		byName[d.Annotations[bundle.AnnotationRefName]] = d
	}
	want := map[string]v1.Hash{
		"team/multi:1.0":                     f.multiDig,
		"team/app:1.0":                       f.appDigest,
		"team/app@" + f.sbom.String():        f.sbom,
		"team/app@" + f.sbomSig.String():     f.sbomSig,
		"team/multi@" + f.childSBOM.String(): f.childSBOM,
	}
	for n, d := range want {
		if byName[n].Digest != d {
			t.Errorf("index.json entry %q: digest %v, want %v (entries: %v)", n, byName[n].Digest, d, keys(byName))
		}
	}
	if _, ok := byName["team/artifact:v1"]; !ok {
		t.Errorf("no index.json entry team/artifact:v1 (entries: %v)", keys(byName))
	}
	multi, err := idx.ImageIndex(f.multiDig)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(multi); err != nil {
		t.Errorf("validate team/multi:1.0: %v", err)
	}
	mm, _ := multi.IndexManifest()
	if len(mm.Manifests) != 2 {
		t.Errorf("index has %d platforms, want 2", len(mm.Manifests))
	}
	app, err := idx.Image(f.appDigest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(app); err != nil {
		t.Errorf("validate team/app:1.0: %v", err)
	}
}

func keys(m map[string]v1.Descriptor) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestExport exports an index (two platforms), an image with an SBOM that
// is itself signed, an artifact and a missing tag; checks the layout;
// resumes after losing blobs; and hands the bundle to skopeo and crane.
func TestExport(t *testing.T) {
	needTools(t, "oras", "skopeo")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newExportFixture(t, ctx)
	dir := filepath.Join(t.TempDir(), "bundle")
	refs := []string{f.multi.String(), f.app.String(), f.art.String()}
	missing := f.st.Addr + "/team/app:no-such-tag"

	code, stdout, stderr := stackrun.RunCLI(t, nil, append([]string{"export", "--output", dir, missing}, refs...)...)
	if code != exitFailure {
		t.Fatalf("export with a missing tag: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, missing) || !strings.Contains(stderr, "MANIFEST_UNKNOWN") {
		t.Errorf("stderr does not name the missing reference and why:\n%s", stderr)
	}
	if images, written, _ := summary(t, stdout); images != 6 || written == 0 {
		t.Errorf("summary: %d images, %d blobs written; want 6 images (3 references, 3 referrers)\n%s", images, written, stdout)
	}
	checkLayout(t, dir, f)

	t.Run("resume", func(t *testing.T) {
		layer, _ := mustLayers(t, f, dir)
		if err := os.Remove(filepath.Join(dir, "blobs", "sha256", layer.Hex)); err != nil {
			t.Fatal(err)
		}
		// What a killed export leaves: a partial temp file, never a
		// partial blob under its final name.
		junk := filepath.Join(dir, "blobs", "sha256", ".partial-"+layer.Hex+"-123")
		if err := os.WriteFile(junk, []byte("half a layer"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := stackrun.RunCLI(t, nil, append([]string{"export", "--output", dir}, refs...)...)
		if code != exitOK {
			t.Fatalf("export again: exit %d\n%s%s", code, stdout, stderr)
		}
		if _, written, skipped := summary(t, stdout); written != 1 || skipped == 0 {
			t.Errorf("second export wrote %d blobs (skipped %d), want only the missing one\n%s", written, skipped, stdout)
		}
		if _, err := os.Stat(junk); err == nil {
			t.Errorf("the stale temp file is still there")
		}
		checkLayout(t, dir, f)
	})

	t.Run("skopeo copies the directory into a registry", func(t *testing.T) {
		dst := stackrun.Start(t, nil)
		// --preserve-digests: skopeo must not convert the manifest (it
		// would between formats), so the digest stays the source's.
		runTool(t, ctx, "skopeo", "copy", "--dest-tls-verify=false", "--preserve-digests", "oci:"+dir+":team/app:1.0", "docker://"+dst.Addr+"/copy/app:1.0")
		if got := digestAt(t, ctx, dst.Addr+"/copy/app:1.0"); got != f.appDigest {
			t.Errorf("team/app:1.0 copied as %v, want %v", got, f.appDigest)
		}
		// skopeo 1.9 re-serialises every index it copies, so it refuses
		// --preserve-digests for one ("cannot modify it") and the index
		// digest changes; the platform manifests are copied unchanged.
		runTool(t, ctx, "skopeo", "copy", "--dest-tls-verify=false", "--all", "oci:"+dir+":team/multi:1.0", "docker://"+dst.Addr+"/copy/multi:1.0")
		for _, child := range f.children {
			if got := digestAt(t, ctx, dst.Addr+"/copy/multi@"+child.String()); got != child {
				t.Errorf("platform manifest %v copied as %v", child, got)
			}
		}
		// What skopeo reads from the bundle is the index byte for byte.
		if got := rawDigest(t, runTool(t, ctx, "skopeo", "inspect", "--raw", "oci:"+dir+":team/multi:1.0")); got != f.multiDig {
			t.Errorf("skopeo reads team/multi:1.0 from the bundle as %v, want %v", got, f.multiDig)
		}
		// crane validate reads every blob back from the registry.
		needTools(t, "crane")
		runTool(t, ctx, "crane", "validate", "--insecure", "--remote", dst.Addr+"/copy/app:1.0")
		runTool(t, ctx, "crane", "validate", "--insecure", "--remote", dst.Addr+"/copy/multi:1.0")
	})

	t.Run("tar", func(t *testing.T) {
		archive := filepath.Join(t.TempDir(), "bundle.tar")
		code, stdout, stderr := stackrun.RunCLI(t, nil, append([]string{"export", "--output", archive}, refs...)...)
		if code != exitOK {
			t.Fatalf("export .tar: exit %d\n%s%s", code, stdout, stderr)
		}
		if _, err := os.Stat(archive + ".partial"); err == nil {
			t.Errorf("the working directory %s.partial is left after a complete export", archive)
		}
		var inspect struct{ Digest string }
		if err := json.Unmarshal([]byte(runTool(t, ctx, "skopeo", "inspect", "oci-archive:"+archive+":team/app:1.0")), &inspect); err != nil {
			t.Fatal(err)
		}
		if inspect.Digest != f.appDigest.String() {
			t.Errorf("skopeo inspect oci-archive: digest %s, want %s", inspect.Digest, f.appDigest)
		}
		if got := rawDigest(t, runTool(t, ctx, "skopeo", "inspect", "--raw", "oci-archive:"+archive+":team/multi:1.0")); got != f.multiDig {
			t.Errorf("skopeo reads team/multi:1.0 from the archive as %v, want %v", got, f.multiDig)
		}
		dst := stackrun.Start(t, nil)
		target := dst.Addr + "/fromtar/app:1.0"
		runTool(t, ctx, "skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", "oci-archive:"+archive+":team/app:1.0", "docker://"+target)
		if got := digestAt(t, ctx, target); got != f.appDigest {
			t.Errorf("copied from the archive as %v, want %v", got, f.appDigest)
		}
	})

	t.Run("an incomplete tar keeps its partial directory", func(t *testing.T) {
		archive := filepath.Join(t.TempDir(), "bundle.tar")
		code, stdout, stderr := stackrun.RunCLI(t, nil, "export", "--output", archive, f.app.String(), missing)
		want := "bundle incomplete: 1 of 2 references failed; " + archive + ".partial kept, run again to finish"
		if code != exitFailure || !strings.Contains(stderr, want) {
			t.Fatalf("export .tar with a missing tag: exit %d, want 1 and %q\n%s%s", code, want, stdout, stderr)
		}
		if _, err := os.Stat(archive); err == nil {
			t.Errorf("%s was written although a reference failed", archive)
		}
		if _, err := os.Stat(filepath.Join(archive+".partial", "index.json")); err != nil {
			t.Errorf("the partial bundle is gone: %v", err)
		}
		code, stdout, stderr = stackrun.RunCLI(t, nil, "export", "--output", archive, f.app.String())
		if code != exitOK {
			t.Fatalf("export .tar again: exit %d\n%s%s", code, stdout, stderr)
		}
		if _, written, skipped := summary(t, stdout); written != 0 || skipped == 0 {
			t.Errorf("the second run wrote %d blobs (skipped %d), want all taken from the partial bundle\n%s", written, skipped, stdout)
		}
		if _, err := os.Stat(archive); err != nil {
			t.Errorf("no archive after the second run: %v", err)
		}
		if _, err := os.Stat(archive + ".partial"); err == nil {
			t.Errorf("%s.partial is left after a complete export", archive)
		}
	})

	t.Run("one writer per bundle", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "bundle")
		l, err := export.OpenLayout(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		code, stdout, stderr := stackrun.RunCLI(t, nil, "export", "--output", dir, f.app.String())
		want := "bundle " + dir + " is in use by another export or mirror"
		if code != exitFailure || !strings.Contains(stderr, want) {
			t.Errorf("export into a bundle in use: exit %d, want 1 and %q\n%s%s", code, want, stdout, stderr)
		}
	})
}

// mustLayers returns two layer digests of team/app:1.0.
func mustLayers(t *testing.T, f exportFixture, dir string) (v1.Hash, v1.Hash) {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := lp.Image(f.appDigest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil || len(m.Layers) < 2 {
		t.Fatalf("app manifest: %v, %d layers", err, len(m.Layers))
	}
	return m.Layers[0].Digest, m.Layers[1].Digest
}

func rawDigest(t *testing.T, raw string) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func runTool(t *testing.T, ctx context.Context, tool string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, tool, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", tool, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func digestAt(t *testing.T, ctx context.Context, ref string, opts ...remote.Option) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest
}

// TestExportKeycloak exports through the token endpoint of a stack in
// keycloak mode, with the password from a file.
func TestExportKeycloak(t *testing.T) {
	realm, st := keycloakStack(t, "export")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	ref := reg.Repo("team", "app").Tag("1.0")
	img, _ := random.Image(64<<10, 2)
	if err := remote.Write(ref, img, basic(realm), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	pwFile := filepath.Join(t.TempDir(), "password")
	writeFile(t, pwFile, realm.Password+"\n")
	dir := filepath.Join(t.TempDir(), "bundle")

	t.Run("anonymous is refused", func(t *testing.T) {
		code, stdout, stderr := stackrun.RunCLI(t, []string{"HOME=" + t.TempDir()}, "export", "--output", dir, ref.String())
		if code != exitFailure || !strings.Contains(stderr, ref.String()) {
			t.Fatalf("anonymous export: exit %d, want 1 naming %s\n%s%s", code, ref, stdout, stderr)
		}
	})
	code, stdout, stderr := stackrun.RunCLI(t, nil, "export", "--username", realm.User, "--password-file", pwFile, "--output", dir, ref.String())
	if code != exitOK {
		t.Fatalf("export: exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, realm.Password) {
		t.Errorf("export output contains the password")
	}
	if strings.Contains(stderr, "skipped") {
		t.Errorf("referrers not listed through a token:\n%s", stderr)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lp.Image(want)
	if err != nil {
		t.Fatalf("image %s not in the bundle: %v", want, err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if !strings.Contains(string(b), `"team/app:1.0"`) {
		t.Errorf("index.json does not name team/app:1.0:\n%s", b)
	}

	t.Run("mirror with credentials at both ends", func(t *testing.T) {
		// The destination is a second keycloak-mode stack on the same realm.
		dst := stackrun.Start(t, nil, realm.StackArgs()...)
		list := filepath.Join(t.TempDir(), "mirror.yaml")
		writeFile(t, list, "repositories:\n  - repository: "+st.Addr+"/team/app\n    semver: \"^1\"\n")
		code, stdout, stderr := stackrun.RunCLI(t, nil, "mirror", "--list", list, "--insecure", "--username", realm.User, "--password-file", pwFile,
			"--to", dst.Addr, "--to-insecure", "--to-username", realm.User, "--to-password-file", pwFile)
		if code != exitOK || !strings.Contains(stdout, "mirror: 1 copied, 0 unchanged, 0 failed") {
			t.Fatalf("mirror: exit %d\n%s%s", code, stdout, stderr)
		}
		if got := digestAt(t, ctx, dst.Addr+"/team/app:1.0", basic(realm)); got != want {
			t.Errorf("mirrored team/app:1.0 is %v, want %v", got, want)
		}
	})

	t.Run("password flag, again: nothing to fetch", func(t *testing.T) {
		code, stdout, stderr := stackrun.RunCLI(t, nil, "export", "--output", dir, "--username", realm.User, "--password", realm.Password, ref.String())
		if code != exitOK {
			t.Fatalf("export: exit %d\n%s%s", code, stdout, stderr)
		}
		if _, written, skipped := summary(t, stdout); written != 0 || skipped == 0 {
			t.Errorf("second export wrote %d blobs, skipped %d; want 0 written\n%s", written, skipped, stdout)
		}
	})
}

// TestExportUsage: usage errors exit 2 and name the flag or reference.
func TestExportUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "127.0.0.1:5000/a:1"}, "--output is required"},
		{[]string{"export", "--output", "x"}, "no references"},
		{[]string{"export", "--output", "x", "team/app:1"}, `reference "team/app:1": name the registry`},
		{[]string{"export", "--output", "x", "--password", "p", "127.0.0.1:5000/a:1"}, "a password needs --username"},
		{[]string{"export", "--output", "x", "--list", "/nonexistent", "127.0.0.1:5000/a:1"}, "--list"},
		{[]string{"mirror", "--list", "x"}, "exactly one of --output DIR and --to HOST:PORT"},
		{[]string{"mirror", "--output", "x"}, "--list is required"},
	} {
		code, _, stderr := stackrun.RunCLI(t, nil, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
