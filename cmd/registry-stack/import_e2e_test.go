package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/registry-stack/registry-stack/internal/bundle"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// importBundle runs registry-stack import into st and returns its exit
// code, report (stdout) and log (stderr).
func importBundle(t *testing.T, st *stackrun.Stack, args ...string) (int, string, string) {
	t.Helper()
	code, stdout, stderr := stackrun.RunCLI(t, nil, append([]string{"import", "--to", st.Addr}, args...)...)
	t.Logf("import %v: exit %d\n%s%s", args, code, stdout, stderr)
	return code, stdout, stderr
}

// ociImage is an image with OCI media types throughout (random's are
// docker's), so tools copying it into an OCI layout keep its digest.
func ociImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for range layers {
		l, err := random.Layer(2048, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// multiPlatform is an index of two images, linux/amd64 and linux/arm64.
func multiPlatform(t *testing.T) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        ociImage(t, 2),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx
}

// referrer is an SBOM-like artifact whose subject is desc.
func referrer(t *testing.T, subject v1.Descriptor) v1.Image {
	t.Helper()
	img := ociImage(t, 1)
	img = mutate.ConfigMediaType(img, "application/vnd.example.sbom.config+json")
	return mutate.Subject(img, subject).(v1.Image)
}

func descriptorOf(t *testing.T, m interface {
	Digest() (v1.Hash, error)
	Size() (int64, error)
	MediaType() (types.MediaType, error)
}) v1.Descriptor {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, _ := m.Size()
	mt, _ := m.MediaType()
	return v1.Descriptor{Digest: d, Size: size, MediaType: mt}
}

func named(n string) layout.Option {
	return layout.WithAnnotations(map[string]string{bundle.AnnotationRefName: n, bundle.AnnotationImageName: n})
}

// testLayout writes a bundle as registry-stack names them: a
// multi-platform index, an image, and a referrer of the image by digest.
func testLayout(t *testing.T, dir string) (idx v1.ImageIndex, img, ref v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	idx, img = multiPlatform(t), ociImage(t, 3)
	ref = referrer(t, descriptorOf(t, img))
	refDigest, _ := ref.Digest()
	for _, err := range []error{
		p.AppendIndex(idx, named("team/multi:1.0")),
		p.AppendImage(img, named("team/app:1.0")),
		p.AppendImage(ref, named("team/app@"+refDigest.String())),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return idx, img, ref
}

func mustDigest(t *testing.T, m interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestImportLayout: a layout written by go-containerregistry imports with
// identical digests, every platform, and its referrer listed by the
// referrers API; a second import skips every blob; --prefix re-homes.
func TestImportLayout(t *testing.T) {
	st := stackrun.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "bundle")
	idx, img, ref := testLayout(t, dir)

	code, out, _ := importBundle(t, st, dir)
	if code != 0 {
		t.Fatalf("import: exit %d", code)
	}
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	checkImported := func(prefix string) {
		t.Helper()
		multi := reg.Repo(prefix + "team/multi").Tag("1.0")
		got, err := remote.Index(multi, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull %s: %v", multi, err)
		}
		if mustDigest(t, got) != mustDigest(t, idx) {
			t.Errorf("%s: digest %s, the bundle's %s", multi, mustDigest(t, got), mustDigest(t, idx))
		}
		for _, arch := range []string{"amd64", "arm64"} {
			pi, err := remote.Image(multi, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
			if err != nil {
				t.Fatalf("pull %s for %s: %v", multi, arch, err)
			}
			if err := validate.Image(pi); err != nil {
				t.Errorf("%s for %s does not validate: %v", multi, arch, err)
			}
		}
		app := reg.Repo(prefix + "team/app")
		pulled, err := remote.Image(app.Tag("1.0"), remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if mustDigest(t, pulled) != mustDigest(t, img) {
			t.Errorf("%s:1.0: digest %s, the bundle's %s", app, mustDigest(t, pulled), mustDigest(t, img))
		}
		if err := validate.Image(pulled); err != nil {
			t.Errorf("%s:1.0 does not validate: %v", app, err)
		}
		refs, err := remote.Referrers(app.Digest(mustDigest(t, img).String()), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("referrers of %s: %v", app, err)
		}
		rm, _ := refs.IndexManifest()
		if len(rm.Manifests) != 1 || rm.Manifests[0].Digest != mustDigest(t, ref) {
			t.Errorf("referrers of %s:1.0 = %+v, want just %s", app, rm.Manifests, mustDigest(t, ref))
		}
	}
	checkImported("")
	for _, want := range []string{"imported team/multi:1.0 -> " + mustDigest(t, idx).String(), "imported team/app:1.0 -> ", "imported team/app@" + mustDigest(t, ref).String(), "3 imported, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	// Everything is there: nothing is uploaded again.
	code, out, _ = importBundle(t, st, dir)
	if up, _ := blobCounts(t, out); code != 0 || up != 0 {
		t.Errorf("second import: exit %d, %d blobs uploaded; want 0 and none", code, up)
	}
	// The three named manifests are found present, so nothing else is
	// sent, and the report says so.
	if !strings.Contains(out, "manifests: 0 written, 3 already present") {
		t.Errorf("second import: the report does not count the 3 manifests already present")
	}

	// --prefix puts the same images under lab/; the blobs are in storage
	// already but not linked to the new repositories, so each is
	// uploaded once more.
	code, out, _ = importBundle(t, st, "--prefix", "lab", dir)
	if code != 0 || !strings.Contains(out, "imported lab/team/app:1.0") {
		t.Fatalf("import --prefix lab: exit %d", code)
	}
	checkImported("lab/")
}

// TestImportCorruptBlob: one image's layer is damaged in the bundle: that
// image is refused naming the blob's digest, the others import, exit 1,
// and the damaged content never reaches the registry.
func TestImportCorruptBlob(t *testing.T) {
	st := stackrun.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, archive := range []bool{false, true} {
		t.Run(fmt.Sprintf("tar=%v", archive), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "bundle")
			p, err := layout.Write(dir, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			good, bad, badManifest := ociImage(t, 2), ociImage(t, 2), ociImage(t, 1)
			repo := fmt.Sprintf("lab/tar-%v", archive)
			for img, n := range map[v1.Image]string{good: "-good:1.0", bad: "-app:1.0", badManifest: "-manifest:1.0"} {
				if err := p.AppendImage(img, named(repo+n)); err != nil {
					t.Fatal(err)
				}
			}
			// A manifest one byte longer than its descriptor says.
			md := mustDigest(t, badManifest)
			raw, _ := badManifest.RawManifest()
			if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", md.Hex), append(raw, ' '), 0o644); err != nil {
				t.Fatal(err)
			}
			layers, _ := bad.Layers()
			broken := mustDigest(t, layers[1])
			blob := filepath.Join(dir, "blobs", "sha256", broken.Hex)
			data, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(blob, data, 0o644); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			path := dir
			if archive {
				path = tarDir(t, dir)
			}
			code, out, _ := importBundle(t, st, path)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			want := fmt.Sprintf("%s-app:1.0: blob %s in the bundle does not match its digest (got sha256:%s)", repo, broken, hex.EncodeToString(sum[:]))
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q", want)
			}
			wantManifest := fmt.Sprintf("%s-manifest:1.0: manifest %s in the bundle does not match its digest (got more than %d bytes)", repo, md, len(raw))
			if !strings.Contains(out, wantManifest) {
				t.Errorf("report lacks %q", wantManifest)
			}
			if !strings.Contains(out, "imported "+repo+"-good:1.0") || !strings.Contains(out, "1 imported, 2 failed") {
				t.Errorf("the intact image was not imported")
			}
			reg, _ := name.NewRegistry(st.Addr, name.Insecure)
			if _, err := remote.Head(reg.Repo(repo+"-app").Tag("1.0"), remote.WithContext(ctx)); statusOf(err) != http.StatusNotFound {
				t.Errorf("the refused image's tag: %v, want 404", err)
			}
			if a := send(t, http.MethodHead, st.URL+"/v2/"+repo+"-app/blobs/"+broken.String(), nil, nil); a.status != http.StatusNotFound {
				t.Errorf("HEAD of the damaged blob %s: %d, want 404", broken, a.status)
			}
			if n := countBlobsNamed(t, st.DataDir, "sha256:"+hex.EncodeToString(sum[:])); n != 0 {
				t.Errorf("the damaged content is in storage")
			}
			if n := countBlobsNamed(t, st.DataDir, broken.String()); n != 0 {
				t.Errorf("blob %s is in storage", broken)
			}
		})
	}
}

// tarDir writes dir as an uncompressed tar next to it, as export and
// skopeo's oci-archive do.
func tarDir(t *testing.T, dir string) string {
	t.Helper()
	out := dir + ".tar"
	cmd := exec.Command("tar", "-cf", out, "-C", dir, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	return out
}

// storedBlobs lists the digests of the blobs in a stack's filesystem
// storage.
func storedBlobs(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dataDir, "registry", "docker", "registry", "v2", "blobs")
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Name() == "data" {
			hexDir := filepath.Dir(p)
			alg := filepath.Base(filepath.Dir(filepath.Dir(hexDir)))
			out = append(out, alg+":"+filepath.Base(hexDir))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func countBlobsNamed(t *testing.T, dataDir, digest string) int {
	n := 0
	for _, d := range storedBlobs(t, dataDir) {
		if d == digest {
			n++
		}
	}
	return n
}

// TestImportDockerSave: a docker save archive written by
// go-containerregistry imports under its RepoTags (host dropped) with the
// same config and layers.
func TestImportDockerSave(t *testing.T) {
	st := stackrun.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[name.Reference]v1.Image{}
	for _, r := range []string{"registry.example:5000/team/app:1.0", "team/app:latest", "docker.io/library/base:2"} {
		tag, err := name.NewTag(r)
		if err != nil {
			t.Fatal(err)
		}
		refs[tag] = img
	}
	path := filepath.Join(t.TempDir(), "saved.tar")
	if err := tarball.MultiRefWriteToFile(path, refs); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := importBundle(t, st, path)
	if code != 0 {
		t.Fatalf("import: exit %d", code)
	}
	if !strings.Contains(stderr, "docker save archive") {
		t.Errorf("the log does not say the format it found")
	}
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	for _, r := range []string{"team/app:1.0", "team/app:latest", "library/base:2"} {
		if !strings.Contains(out, "imported "+r+" -> ") {
			t.Errorf("report lacks %s", r)
		}
		pulled, err := remote.Image(reg.Repo(strings.Split(r, ":")[0]).Tag(strings.Split(r, ":")[1]), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull %s: %v", r, err)
		}
		sameImage(t, r, img, pulled, true)
	}
}

// sameImage: the same layer contents and, with sameConfig, the same
// config (image id); the manifest may differ, since a docker save archive
// keeps none.
func sameImage(t *testing.T, what string, want, got v1.Image, sameConfig bool) {
	t.Helper()
	if err := validate.Image(got); err != nil {
		t.Errorf("%s does not validate: %v", what, err)
	}
	wc, _ := want.ConfigName()
	gc, _ := got.ConfigName()
	if sameConfig && wc != gc {
		t.Errorf("%s: config %s, want %s", what, gc, wc)
	}
	wl, _ := want.Layers()
	gl, _ := got.Layers()
	if len(wl) != len(gl) {
		t.Fatalf("%s: %d layers, want %d", what, len(gl), len(wl))
	}
	for i := range wl {
		wd, _ := wl[i].DiffID()
		gd, _ := gl[i].DiffID()
		if wd != gd {
			t.Errorf("%s: layer %d diff id %s, want %s", what, i, gd, wd)
		}
	}
}

// TestImportSkopeo: skopeo's oci-archive of an image of stack A imports
// into stack B with the same digest; an oci: directory whose entry is a
// bare tag takes its repository from the directory name or --repository.
func TestImportSkopeo(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		testenv.Missing(t, "skopeo (scripts/deps.sh installs it)")
	}
	a, b := stackrun.Start(t, nil), stackrun.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img := ociImage(t, 2)
	regA, _ := name.NewRegistry(a.Addr, name.Insecure)
	if err := remote.Write(regA.Repo("team/app").Tag("1.0"), img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	skopeo := func(args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, "skopeo", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo %v: %v\n%s", args, err, out)
		}
	}
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "x.tar")
	skopeo("copy", "--src-tls-verify=false", "docker://"+a.Addr+"/team/app:1.0", "oci-archive:"+archive+":lab/app:1.0")
	webapp := filepath.Join(tmp, "webapp")
	skopeo("copy", "--src-tls-verify=false", "docker://"+a.Addr+"/team/app:1.0", "oci:"+webapp+":1.0")

	regB, _ := name.NewRegistry(b.Addr, name.Insecure)
	want := mustDigest(t, img)
	digestIn := func(repo, tag string) v1.Hash {
		t.Helper()
		d, err := remote.Head(regB.Repo(repo).Tag(tag), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("%s:%s in stack B: %v", repo, tag, err)
		}
		return d.Digest
	}
	if code, _, _ := importBundle(t, b, archive); code != 0 {
		t.Fatalf("import of skopeo's oci-archive: exit %d", code)
	}
	if d := digestIn("lab/app", "1.0"); d != want {
		t.Errorf("lab/app:1.0: %s, want %s", d, want)
	}
	code, _, stderr := importBundle(t, b, webapp)
	if code != 0 {
		t.Fatalf("import of skopeo's oci: directory: exit %d", code)
	}
	if !strings.Contains(stderr, `repository "webapp"`) {
		t.Errorf("the log does not say where the repository came from")
	}
	if d := digestIn("webapp", "1.0"); d != want {
		t.Errorf("webapp:1.0: %s, want %s", d, want)
	}
	if code, _, _ := importBundle(t, b, "--repository", "team/web", webapp); code != 0 {
		t.Fatalf("import --repository: exit %d", code)
	}
	if d := digestIn("team/web", "1.0"); d != want {
		t.Errorf("team/web:1.0: %s, want %s", d, want)
	}
}

// TestImportPodmanSave: images podman pulled from a stack (over HTTP, no
// container runtime needed) and saved as docker-archive (its default) and
// as oci-archive import into another stack.
func TestImportPodmanSave(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		testenv.Missing(t, "podman (scripts/deps.sh installs it)")
	}
	a, b := stackrun.Start(t, nil), stackrun.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	regA, _ := name.NewRegistry(a.Addr, name.Insecure)
	if err := remote.Write(regA.Repo("team/app").Tag("1.0"), img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	podman := func(args ...string) {
		t.Helper()
		full := append([]string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}, args...)
		cmd := exec.CommandContext(ctx, "podman", full...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("podman %v: %v\n%s", args, err, out)
		}
	}
	src := a.Addr + "/team/app:1.0"
	podman("pull", "--tls-verify=false", src)
	dockerArchive, ociArchive := filepath.Join(dir, "docker.tar"), filepath.Join(dir, "oci.tar")
	podman("save", "-o", dockerArchive, src)
	podman("save", "--format", "oci-archive", "-o", ociArchive, src)

	regB, _ := name.NewRegistry(b.Addr, name.Insecure)
	// podman's oci-archive rewrites the config in OCI form: only the layers
	// stay the same.
	for _, c := range []struct {
		path, prefix string
		sameConfig   bool
	}{{dockerArchive, "docker", true}, {ociArchive, "oci", false}} {
		code, _, _ := importBundle(t, b, "--prefix", c.prefix, c.path)
		if code != 0 {
			t.Fatalf("import of podman's %s: exit %d", c.path, code)
		}
		pulled, err := remote.Image(regB.Repo(c.prefix+"/team/app").Tag("1.0"), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull %s/team/app:1.0: %v", c.prefix, err)
		}
		sameImage(t, c.prefix+"/team/app:1.0", img, pulled, c.sameConfig)
	}
}

// bigLayout writes a bundle of one image with n layers of size random
// bytes each, without holding more than one layer in memory, and returns
// its blob count.
func bigLayout(t *testing.T, dir string, n, size int) int {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, size)
	put := func(b []byte, mt types.MediaType) v1.Descriptor {
		h, sz, _ := v1.SHA256(bytes.NewReader(b))
		if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(b))); err != nil {
			t.Fatal(err)
		}
		return v1.Descriptor{MediaType: mt, Digest: h, Size: sz}
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	var diffIDs []v1.Hash
	for range n {
		_, _ = rng.Read(buf)
		d := put(buf, "application/vnd.example.data")
		m.Layers = append(m.Layers, d)
		diffIDs = append(diffIDs, d.Digest)
	}
	cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	m.Config = put(cfg, types.OCIConfigJSON)
	raw, _ := json.Marshal(m)
	d := put(raw, types.OCIManifestSchema1)
	d.Annotations = bundle.Name{Repository: "lab/big", Tag: "1.0"}.Annotations()
	if err := p.AppendDescriptor(d); err != nil {
		t.Fatal(err)
	}
	return n + 2
}

// TestImportResumeAfterKill: an import killed with SIGKILL once blobs are
// committed, run again, completes with the bundle's digests, every blob
// stored once and one tag; the second run skips what the first stored.
func TestImportResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and imports 128 MiB twice: not part of the quick checks")
	}
	st := stackrun.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "big")
	blobs := bigLayout(t, dir, 8, 16<<20)

	cmd := exec.CommandContext(ctx, stackrun.Binary(t), "import", "--to", st.Addr, dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill once the stack logs the first committed blob.
	for !blobCommitted(st.Logs()) {
		select {
		case err := <-exited:
			t.Fatalf("import ended before it was killed (%v): make the bundle larger\n%s", err, out.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	stored := len(storedBlobs(t, st.DataDir))
	t.Logf("killed after %s with %d of %d blobs stored", time.Since(began).Round(time.Millisecond), stored, blobs)
	if stored >= blobs {
		t.Fatalf("every blob was stored before the kill: the test proves nothing")
	}
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	if _, err := remote.Head(reg.Repo("lab/big").Tag("1.0"), remote.WithContext(ctx)); statusOf(err) != http.StatusNotFound {
		t.Errorf("the tag exists before its content is complete: %v", err)
	}

	began = time.Now()
	code, report, _ := importBundle(t, st, dir)
	resume := time.Since(began)
	if code != 0 {
		t.Fatalf("resumed import: exit %d", code)
	}
	// The blobs stored before the kill are skipped, the rest uploaded:
	// every blob but the manifest (not a blob upload) exactly once.
	up, skipped := blobCounts(t, report)
	if skipped < 1 || up+skipped != blobs-1 {
		t.Errorf("resumed: %d uploaded, %d skipped; want at least one skipped and %d in all", up, skipped, blobs-1)
	}
	want, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	wm, _ := want.IndexManifest()
	d, err := remote.Head(reg.Repo("lab/big").Tag("1.0"), remote.WithContext(ctx))
	if err != nil || d.Digest != wm.Manifests[0].Digest {
		t.Fatalf("lab/big:1.0 = %v (%v), want %s", d, err, wm.Manifests[0].Digest)
	}
	pulled, err := remote.Image(reg.Repo("lab/big").Tag("1.0"), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled, validate.Fast); err != nil {
		t.Errorf("the resumed image does not validate: %v", err)
	}
	if got := len(storedBlobs(t, st.DataDir)); got != blobs {
		t.Errorf("%d blobs in storage, the bundle has %d", got, blobs)
	}
	tags, err := remote.List(reg.Repo("lab/big"), remote.WithContext(ctx))
	if err != nil || !slices.Equal(tags, []string{"1.0"}) {
		t.Errorf("tags = %v (%v), want [1.0]", tags, err)
	}

	// For comparison: the whole import into an empty stack.
	fresh := stackrun.Start(t, nil)
	began = time.Now()
	if code, _, _ := importBundle(t, fresh, dir); code != 0 {
		t.Fatalf("full import: exit %d", code)
	}
	t.Logf("resume after the kill: %s; full import of the %d MiB bundle: %s", resume.Round(time.Millisecond), 8*16, time.Since(began).Round(time.Millisecond))
}

// blobCommitted tells whether a stack's JSON log shows a blob upload's
// final PUT answered 201.
func blobCommitted(logs string) bool {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "/blobs/uploads/") || !strings.Contains(line, `"PUT"`) {
			continue
		}
		var rec struct {
			Method string `json:"http.request.method"`
			Status int    `json:"http.response.status"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Method == http.MethodPut && rec.Status == http.StatusCreated {
			return true
		}
	}
	return false
}

// blobCounts reads the uploaded and skipped blob counts of a report.
func blobCounts(t *testing.T, report string) (uploaded, skipped int) {
	t.Helper()
	i := strings.Index(report, "blobs: ")
	if i < 0 {
		t.Fatalf("no blob totals in the report:\n%s", report)
	}
	if _, err := fmt.Sscanf(report[i:], "blobs: %d uploaded", &uploaded); err != nil {
		t.Fatalf("blob totals: %v", err)
	}
	j := strings.Index(report[i:], "), ")
	if _, err := fmt.Sscanf(report[i+j+3:], "%d skipped", &skipped); err != nil {
		t.Fatalf("blob totals: %v", err)
	}
	return uploaded, skipped
}

// importWithStdin runs registry-stack import with stdin, as a script
// passing the password with --password-stdin does.
func importWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stackrun.Binary(t), append([]string{"import"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("import %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	if secret := strings.TrimSpace(stdin); secret != "" && strings.Contains(stdout.String()+stderr.String(), secret) {
		t.Errorf("import printed the password")
	}
	return code, stdout.String(), stderr.String()
}

// smallLayout is a bundle of one image, team/app:1.0.
func smallLayout(t *testing.T) (string, v1.Hash) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img := ociImage(t, 2)
	if err := p.AppendImage(img, named("team/app:1.0")); err != nil {
		t.Fatal(err)
	}
	return dir, mustDigest(t, img)
}

// TestImportKeycloakMode: a user's password, given on standard input, is
// exchanged for a Bearer token by the registry client.
func TestImportKeycloakMode(t *testing.T) {
	realm, st := keycloakStack(t, "rs-import")
	dir, want := smallLayout(t)
	code, out, _ := importWithStdin(t, realm.Password+"\n", "--to", st.Addr, "--username", realm.User, "--password-stdin", dir)
	if code != 0 || !strings.Contains(out, "imported team/app:1.0 -> "+want.String()) {
		t.Fatalf("import as %s: exit %d", realm.User, code)
	}
	code, out, _ = importWithStdin(t, "wrong\n", "--to", st.Addr, "--username", realm.User, "--password-stdin", "--prefix", "other", dir)
	if code != 1 || !strings.Contains(out, `failed   other/team/app:1.0: login refused: the token endpoint `) {
		t.Errorf("a wrong password: exit %d, want 1 and the image named as failed", code)
	}
}

// TestImportPolicyRobots: in oidc mode a robot allowed to push under
// team-a imports there; a robot that may only pull is refused with a
// message that says denied and names the repository.
func TestImportPolicyRobots(t *testing.T) {
	s := newOIDCSetup(t, "rs-import-oidc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	readerSecret, _, err := s.admin.EnsureRobot(ctx, s.realm, "reader-robot", nil)
	if err != nil {
		t.Fatalf("create reader-robot: %v", err)
	}
	st := s.start(t, nil)
	dir, want := smallLayout(t)

	code, out, _ := importWithStdin(t, s.robotSecret, "--to", st.Addr, "--username", "ci-robot", "--password-stdin", "--prefix", "team-a", dir)
	if code != 0 || !strings.Contains(out, "imported team-a/team/app:1.0 -> "+want.String()) {
		t.Fatalf("ci-robot into team-a: exit %d", code)
	}
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	d, err := remote.Head(reg.Repo("team-a/team/app").Tag("1.0"), login("ci-robot", s.robotSecret), remote.WithContext(ctx))
	if err != nil || d.Digest != want {
		t.Errorf("team-a/team/app:1.0 = %v (%v), want %s", d, err, want)
	}

	// public/** is pullable by any signed-in account, pushable by /team-a only.
	code, out, _ = importWithStdin(t, readerSecret, "--to", st.Addr, "--username", "reader-robot", "--password-stdin", "--prefix", "public", dir)
	if code != 1 {
		t.Errorf("reader-robot into public: exit %d, want 1", code)
	}
	if !strings.Contains(out, `failed   public/team/app:1.0: denied: the registry refused push access to repository "public/team/app"`) {
		t.Errorf("the refusal does not say denied and name the repository")
	}
	if _, err := remote.Head(reg.Repo("public/team/app").Tag("1.0"), login("ci-robot", s.robotSecret), remote.WithContext(ctx)); statusOf(err) != http.StatusNotFound {
		t.Errorf("public/team/app:1.0 after the refused import: %v, want 404", err)
	}
}

// TestImportUsage: mistakes in the command line or PATH exit 2 with one
// line naming the flag or the path.
func TestImportUsage(t *testing.T) {
	dir := t.TempDir()
	notBundle := filepath.Join(dir, "notes")
	if err := os.MkdirAll(notBundle, 0o755); err != nil {
		t.Fatal(err)
	}
	bundleDir, _ := smallLayout(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "--to", "127.0.0.1:1"}, "want exactly one PATH, got 0"},
		{[]string{"import", "--to", "127.0.0.1:1", bundleDir, bundleDir}, "want exactly one PATH, got 2"},
		{[]string{"import", "--to", "127.0.0.1:1", "--username", "u", bundleDir}, "--username needs a password"},
		{[]string{"import", "--to", "127.0.0.1:1", "--password", "p", "--password-stdin", bundleDir}, "only one of --password, --password-file, --password-stdin"},
		{[]string{"import", "--to", "127.0.0.1:1", notBundle}, "holds neither an OCI image layout"},
		{[]string{"import", "--to", "127.0.0.1:1", filepath.Join(dir, "absent")}, "no such file"},
		{[]string{"import", "--to", "http://127.0.0.1:1", bundleDir}, `--to "http://127.0.0.1:1": want HOST[:PORT]`},
		{[]string{"import", "--to", "127.0.0.1:1", "--prefix", "Lab/", bundleDir}, `--prefix "Lab/" is not a repository path`},
		{[]string{"import", "--bogus", bundleDir}, "flag provided but not defined: -bogus"},
	} {
		code, _, stderr := stackrun.RunCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args[1:], code, stderr, c.want)
		}
	}
}

// TestImportDefaultTarget: without --to, the import goes to the local
// stack at the configured listen address.
func TestImportDefaultTarget(t *testing.T) {
	st := stackrun.Start(t, nil)
	dir, want := smallLayout(t)
	code, out, stderr := stackrun.RunCLI(t, []string{"REGISTRY_STACK_LISTEN=" + st.Addr}, "import", dir)
	if code != 0 || !strings.Contains(out, "imported team/app:1.0 -> "+want.String()) {
		t.Fatalf("import without --to: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "importing into the local stack at "+st.Addr) {
		t.Errorf("the log does not name the local stack's address:\n%s", stderr)
	}
}

// TestImportOrasLayout: a layout oras wrote (an artifact under a bare tag
// and, attached to it, a signature with no name at all) imports: the
// artifact under --repository, the signature as its referrer.
func TestImportOrasLayout(t *testing.T) {
	if _, err := exec.LookPath("oras"); err != nil {
		testenv.Missing(t, "oras (scripts/deps.sh installs it)")
	}
	st := stackrun.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := newOras(t, ctx, clientLogin{}, map[string]string{"sbom.json": `{"spdxVersion":"SPDX-2.3"}`, "sig.txt": "signed"})
	layoutDir := filepath.Join(t.TempDir(), "sbom-bundle")
	o.run("push", "--oci-layout", layoutDir+":1.0", "--artifact-type", "application/spdx+json", "sbom.json:application/spdx+json")
	o.run("attach", "--oci-layout", layoutDir+":1.0", "--artifact-type", "application/vnd.example.signature", "sig.txt:text/plain")

	code, out, _ := importBundle(t, st, "--repository", "lab/sbom", layoutDir)
	if code != 0 {
		t.Fatalf("import of oras's layout: exit %d", code)
	}
	if !strings.Contains(out, "2 imported, 0 failed") {
		t.Errorf("the artifact and its signature were not both imported")
	}
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	d, err := remote.Head(reg.Repo("lab/sbom").Tag("1.0"), remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("lab/sbom:1.0: %v", err)
	}
	refs, err := remote.Referrers(reg.Repo("lab/sbom").Digest(d.Digest.String()), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	rm, _ := refs.IndexManifest()
	if len(rm.Manifests) != 1 || rm.Manifests[0].ArtifactType != "application/vnd.example.signature" {
		t.Errorf("referrers of lab/sbom:1.0 = %+v, want the signature", rm.Manifests)
	}
}
