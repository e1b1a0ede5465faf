package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/registry-stack/registry-stack/internal/bundle"
)

func hashOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// chunky returns at most 3 bytes per Read and io.EOF with the last ones,
// as some readers do, so the verifier sees both ways a stream ends.
type chunky struct{ r io.Reader }

func (c chunky) Read(p []byte) (int, error) {
	if len(p) > 3 {
		p = p[:3]
	}
	n, err := c.r.Read(p)
	return n, err
}

func TestVerifier(t *testing.T) {
	data := []byte("the content of a blob")
	good := hashOf(data)
	other := hashOf([]byte("something else"))
	cases := []struct {
		name    string
		want    v1.Hash
		size    int64
		wantErr string // empty: reads through to io.EOF
	}{
		{"digest and size match", good, int64(len(data)), ""},
		{"size unknown", good, -1, ""},
		{"other digest", other, int64(len(data)), "blob " + other.String() + " in the bundle does not match its digest (got " + good.String() + ")"},
		{"other digest, size unknown", other, -1, "does not match its digest (got " + good.String() + ")"},
		{"shorter than its size", good, int64(len(data)) + 5, "21 bytes instead of 26"},
		{"longer than its size", good, int64(len(data)) - 1, "more than 20 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &faults{}
			var counted int64
			r, err := verify(io.NopCloser(chunky{bytes.NewReader(data)}), "blob", c.want, c.size, f, func(n int64) { counted += n })
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if c.wantErr == "" {
				if err != nil || !bytes.Equal(got, data) || f.get() != nil {
					t.Fatalf("read %q, %v, fault %v; want the data and no error", got, err, f.get())
				}
				if counted != int64(len(data)) {
					t.Errorf("counted %d bytes, want %d", counted, len(data))
				}
				return
			}
			var de *DigestError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want a DigestError with %q", err, c.wantErr)
			}
			if f.get() != de {
				t.Errorf("the fault recorded is %v, want the error returned", f.get())
			}
			// Once failed, it stays failed.
			if _, err := r.Read(make([]byte, 1)); err != de {
				t.Errorf("read after the failure: %v", err)
			}
		})
	}
}

func TestVerifierRefusesUnknownAlgorithm(t *testing.T) {
	if _, err := verify(io.NopCloser(bytes.NewReader(nil)), "blob", v1.Hash{Algorithm: "md5", Hex: "00"}, 0, nil, nil); err == nil {
		t.Fatal("an md5 digest was accepted")
	}
}

// writeTar writes members (name → content; content "->target" is a
// symlink) into a tar file.
func writeTar(t testing.TB, path string, members [][2]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m[0], Mode: 0o644, Size: int64(len(m[1])), Typeflag: tar.TypeReg}
		if target, ok := strings.CutPrefix(m[1], "->"); ok {
			h = &tar.Header{Name: m[0], Linkname: target, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(m[1])); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTarSource: members are read in place at their offsets, through
// ./ prefixes, long names (PAX) and symlinks as docker save writes them.
func TestTarSource(t *testing.T) {
	long := strings.Repeat("d", 120) + "/file"
	path := filepath.Join(t.TempDir(), "b.tar")
	writeTar(t, path, [][2]string{
		{"./manifest.json", "[]"},
		{"abc.tar", strings.Repeat("x", 1500)},
		{long, "long name"},
		{"layer/layer.tar", "->../abc.tar"},
	})
	src, f, err := openSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	if f != formatDockerArchive {
		t.Errorf("format %v, want docker save archive", f)
	}
	for name, want := range map[string]string{"manifest.json": "[]", "abc.tar": strings.Repeat("x", 1500), long: "long name", "layer/layer.tar": strings.Repeat("x", 1500)} {
		r, size, err := src.open(name)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		got, _ := io.ReadAll(r)
		if string(got) != want || size != int64(len(want)) {
			t.Errorf("%s: %d bytes %.20q, want %.20q", name, size, got, want)
		}
	}
	if _, _, err := src.open("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of a missing member: %v", err)
	}
}

func TestOpenSourceRefuses(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "b.tar.gz")
	if err := os.WriteFile(gz, []byte{0x1f, 0x8b, 8, 0, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	notTar := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notTar, []byte(strings.Repeat("hello ", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyTar := filepath.Join(dir, "empty.tar")
	writeTar(t, emptyTar, [][2]string{{"README", "hi"}})
	for _, c := range []struct{ path, want string }{
		{gz, "gzip-compressed: decompress it first"},
		{notTar, "neither a directory nor a tar archive"},
		{emptyTar, "holds neither an OCI image layout"},
		{filepath.Join(dir, "absent"), "no such file"},
		{t.TempDir(), "holds neither an OCI image layout"},
	} {
		if _, _, err := openSource(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", filepath.Base(c.path), err, c.want)
		}
	}
}

func TestBareRepository(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "webapp.tar")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o        Options
		want     string
		wantFail bool
	}{
		{Options{Path: filepath.Join(dir, "webapp")}, "webapp", false},
		{Options{Path: file}, "webapp", false},
		{Options{Path: file, Repository: "team/web"}, "team/web", false},
		{Options{Path: filepath.Join(dir, "Web App")}, "", true},
		{Options{Path: file, Repository: "Bad Name"}, "", true},
	} {
		got, _, err := bareRepository(c.o)
		if (err != nil) != c.wantFail || got != c.want {
			t.Errorf("%+v: %q, %v; want %q (fail %v)", c.o, got, err, c.want, c.wantFail)
		}
	}
}

// dockerArchive writes a docker save archive of one image whose config
// names layer content declared, while the archive holds actual.
func dockerArchive(t *testing.T, declared, actual string) string {
	t.Helper()
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + hashOf([]byte(declared)).String() + `"]}}`
	cfgName := hashOf([]byte(cfg)).Hex + ".json"
	manifest := `[{"Config":"` + cfgName + `","RepoTags":["example.com/team/app:1.0"],"Layers":["abc/layer.tar"]}]`
	path := filepath.Join(t.TempDir(), "saved.tar")
	writeTar(t, path, [][2]string{{"manifest.json", manifest}, {cfgName, cfg}, {"abc/layer.tar", actual}})
	return path
}

func TestDockerArchive(t *testing.T) {
	layer := strings.Repeat("layer content ", 1000)
	t.Run("intact", func(t *testing.T) {
		src, _, err := openSource(dockerArchive(t, layer, layer))
		if err != nil {
			t.Fatal(err)
		}
		defer src.close()
		items, err := dockerItems(src)
		if err != nil || len(items) != 1 || items[0].names[0].String() != "team/app:1.0" {
			t.Fatalf("items %+v, %v; want team/app:1.0", items, err)
		}
		tg, err := items[0].load(t.Context(), &faults{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := tg.(interface{ Layers() ([]v1.Layer, error) }).Layers()
		if err != nil || len(ls) != 1 {
			t.Fatalf("layers %v, %v", ls, err)
		}
		// The layer is pushed gzip-compressed; the stream matches the
		// digest the manifest names, and its content the diff_id.
		rc, err := ls[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		want, _ := ls[0].Digest()
		if err != nil || hashOf(b) != want || b[0] != 0x1f {
			t.Fatalf("compressed layer: %v, digest %s, want %s (gzip)", err, hashOf(b), want)
		}
	})
	t.Run("layer does not match its diff_id", func(t *testing.T) {
		src, _, err := openSource(dockerArchive(t, layer, layer+"tampered"))
		if err != nil {
			t.Fatal(err)
		}
		defer src.close()
		items, err := dockerItems(src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = items[0].load(t.Context(), &faults{}, nil)
		want := "layer " + hashOf([]byte(layer)).String() + " in the bundle does not match its digest (got " + hashOf([]byte(layer+"tampered")).String() + ")"
		if err == nil || err.Error() != want {
			t.Fatalf("load: %v, want %q", err, want)
		}
	})
}

// dockerArchiveOf writes a docker save archive of one image with layers
// (their contents) under tags, as a tar or, with dir, a directory.
func dockerArchiveOf(t *testing.T, dir bool, tags []string, layers ...string) string {
	t.Helper()
	var diffIDs, names []string
	members := [][2]string{}
	for i, l := range layers {
		diffIDs = append(diffIDs, `"`+hashOf([]byte(l)).String()+`"`)
		name := string(rune('a'+i)) + "/layer.tar"
		names = append(names, `"`+name+`"`)
		members = append(members, [2]string{name, l})
	}
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[` + strings.Join(diffIDs, ",") + `]}}`
	cfgName := hashOf([]byte(cfg)).Hex + ".json"
	manifest := `[{"Config":"` + cfgName + `","RepoTags":["` + strings.Join(tags, `","`) + `"],"Layers":[` + strings.Join(names, ",") + `]}]`
	members = append(members, [2]string{"manifest.json", manifest}, [2]string{cfgName, cfg})
	if !dir {
		path := filepath.Join(t.TempDir(), "saved.tar")
		writeTar(t, path, members)
		return path
	}
	root := filepath.Join(t.TempDir(), "saved")
	for _, m := range members {
		p := filepath.Join(root, filepath.FromSlash(m[0]))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(m[1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// loadOnly opens a bundle and returns its single item.
func loadOnly(t *testing.T, path string) (source, item) {
	t.Helper()
	src, format, err := openSource(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.close() })
	var items []item
	if format == formatOCI {
		items, err = ociItems(src, Options{Path: path})
	} else {
		items, err = dockerItems(src)
	}
	if err != nil || len(items) != 1 {
		t.Fatalf("items %+v, %v; want one", items, err)
	}
	return src, items[0]
}

// TestDirSourceRefusesLinksOut: a directory bundle's member that is a
// symbolic link to a file outside the bundle is refused, naming the
// member, whether the bundle names it by digest or by a plain file name
// (a docker archive's config); links within the bundle are followed.
func TestDirSourceRefusesLinksOut(t *testing.T) {
	secret := []byte(`{"auths":{"registry.lab":{"auth":"c2VjcmV0"}}}`)
	outside := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(outside, secret, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("docker archive config", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "saved")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		manifest := `[{"Config":"c.json","RepoTags":["team/app:1"],"Layers":[]}]`
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, "c.json")); err != nil {
			t.Fatal(err)
		}
		_, it := loadOnly(t, dir)
		_, err := it.load(t.Context(), &faults{}, nil)
		if err == nil || !strings.Contains(err.Error(), "c.json: refused, a symbolic link leading out of the bundle directory") {
			t.Fatalf("load: %v; want c.json refused as a link out of the bundle", err)
		}
	})

	t.Run("blob named by its digest", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		// Its digest matches: only the link gives it away.
		rel, err := filepath.Rel(filepath.Join(dir, "blobs", "sha256"), outside)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(rel, filepath.Join(dir, "blobs", "sha256", hashOf(secret).Hex)); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		src := dirSource{root: root}
		defer src.close()
		name := bundle.BlobPath(hashOf(secret))
		if _, _, err := src.open(name); err == nil || !strings.Contains(err.Error(), name+": refused") {
			t.Errorf("open of a link out: %v; want it refused naming %s", err, name)
		}
		up, err := filepath.Rel(dir, outside)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := src.open(filepath.ToSlash(up)); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("open %s: %v; want it refused", up, err)
		}
	})

	t.Run("link within the bundle", func(t *testing.T) {
		layer := strings.Repeat("layer ", 100)
		dir := dockerArchiveOf(t, true, []string{"team/app:1"}, layer)
		// As older docker save archives link a layer to an identical one.
		if err := os.Rename(filepath.Join(dir, "a", "layer.tar"), filepath.Join(dir, "a.tar")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../a.tar", filepath.Join(dir, "a", "layer.tar")); err != nil {
			t.Fatal(err)
		}
		_, it := loadOnly(t, dir)
		if _, err := it.load(t.Context(), &faults{}, nil); err != nil {
			t.Fatalf("load through a link within the bundle: %v", err)
		}
	})
}

// TestTarSourceConfinesNames: a tar's member names and link targets with
// "..", or absolute ones, are read as names inside the archive; nothing
// outside it is ever opened.
func TestTarSourceConfinesNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.tar")
	writeTar(t, path, [][2]string{
		{"../../../manifest.json", "[]"},
		{"/abs/file", "absolute"},
		{"c.json", "->/etc/passwd"},
		{"up.json", "->../../../../etc/hostname"},
		{"in.json", "->../../abs/file"},
	})
	src, _, err := openSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	for name, want := range map[string]string{"manifest.json": "[]", "abs/file": "absolute", "in.json": "absolute"} {
		r, _, err := src.open(name)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		got, _ := io.ReadAll(r)
		if string(got) != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"c.json", "up.json", "etc/passwd"} {
		if _, _, err := src.open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("open %s: %v; want it missing (its target is not in the archive)", name, err)
		}
	}
}

// TestIndexEntryWithoutSize: an index.json entry without a size is
// refused as such, not as a digest mismatch.
func TestIndexEntryWithoutSize(t *testing.T) {
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + hashOf([]byte("{}")).String() + `","size":2},"layers":[]}`
	d := hashOf([]byte(manifest))
	index := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","annotations":{"org.opencontainers.image.ref.name":"team/app:1.0"}}]}`
	path := filepath.Join(t.TempDir(), "bundle.tar")
	writeTar(t, path, [][2]string{
		{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`},
		{"index.json", index},
		{"blobs/sha256/" + d.Hex, manifest},
		{"blobs/sha256/" + hashOf([]byte("{}")).Hex, "{}"},
	})
	_, it := loadOnly(t, path)
	if want := "index.json entry " + d.String() + " has no size"; it.err == nil || it.err.Error() != want {
		t.Errorf("item error %v, want %q", it.err, want)
	}
}

// TestDockerArchiveNoLayers: an image without layers gets "layers": [].
func TestDockerArchiveNoLayers(t *testing.T) {
	_, it := loadOnly(t, dockerArchiveOf(t, false, []string{"team/empty:1"}))
	tg, err := it.load(t.Context(), &faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tg.RawManifest()
	if err != nil || !strings.Contains(string(raw), `"layers":[]`) {
		t.Errorf("manifest %s, %v; want \"layers\":[]", raw, err)
	}
}

// TestDockerArchiveFaultsPerTag: an image with two RepoTags is measured
// once, but a layer changed in the archive before the second tag's push
// is reported as that push's digest mismatch.
func TestDockerArchiveFaultsPerTag(t *testing.T) {
	layer := strings.Repeat("layer content ", 1000)
	path := dockerArchiveOf(t, false, []string{"team/app:1", "team/app:latest"}, layer)
	_, it := loadOnly(t, path)
	if len(it.names) != 2 {
		t.Fatalf("names %v, want two", it.names)
	}
	first, second := &faults{}, &faults{}
	if _, err := it.load(t.Context(), first, nil); err != nil {
		t.Fatal(err)
	}
	tg, err := it.load(t.Context(), second, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the layer in place, as a disk or a copy might between pushes.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(layer))
	b[i] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ls, err := tg.(v1.Image).Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	var de *DigestError
	if !errors.As(err, &de) || second.get() != de {
		t.Fatalf("read of the damaged layer: %v, fault %v; want the DigestError recorded for the second push", err, second.get())
	}
	if first.get() != nil {
		t.Errorf("the first push was blamed: %v", first.get())
	}
}

// TestDockerArchiveMeasureCancelled: measuring the layers stops once the
// import is cancelled.
func TestDockerArchiveMeasureCancelled(t *testing.T) {
	_, it := loadOnly(t, dockerArchiveOf(t, false, []string{"team/app:1"}, strings.Repeat("x", 1<<20)))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := it.load(ctx, &faults{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("load after cancel: %v, want context.Canceled", err)
	}
}
