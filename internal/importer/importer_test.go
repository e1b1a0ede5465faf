package importer

import (
	"archive/tar"
	"bytes"
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
