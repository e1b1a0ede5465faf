package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/registry-stack/registry-stack/internal/bundle"
)

func hashOf(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// openLayout opens dir and closes it when the test ends.
func openLayout(t *testing.T, dir string) *Layout {
	t.Helper()
	l, err := OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestWriteBlob(t *testing.T) {
	const content = "some layer content"
	h := hashOf(t, content)
	tests := []struct {
		name   string
		size   int64
		body   string
		digest v1.Hash
		want   string // error substring; "" for success
	}{
		{"complete", int64(len(content)), content, h, ""},
		{"short", int64(len(content)), content[:5], h, "got 5 bytes"},
		{"long", int64(len(content)) - 1, content, h, "want 17"},
		{"other content", int64(len(content)), strings.ToUpper(content), h, "content has digest"},
		{"unknown algorithm", 1, "x", v1.Hash{Algorithm: "md5", Hex: strings.Repeat("0", 32)}, "blob md5:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLayout(t, t.TempDir())
			err := l.WriteBlob(tt.digest, tt.size, strings.NewReader(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !l.HasBlob(tt.digest, tt.size) {
					t.Fatal("blob not in the layout after a complete write")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one with %q", err, tt.want)
			}
			if l.HasBlob(tt.digest, tt.size) {
				t.Fatal("a bad blob landed under its final name")
			}
			if left, _ := filepath.Glob(filepath.Join(l.Dir(), "blobs", "*", "*")); len(left) != 0 {
				t.Fatalf("files left behind: %v", left)
			}
		})
	}
}

func TestAddEntriesMerges(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(n bundle.Name, content string) v1.Descriptor {
		return v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: hashOf(t, content), Size: int64(len(content)), Annotations: n.Annotations()}
	}
	app := bundle.Name{Repository: "team/app", Tag: "1.0"}
	other := bundle.Name{Repository: "team/other", Tag: "1.0"}
	if err := l.AddEntries(entry(app, "a"), entry(other, "b")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, as a second export would: same name replaced, new appended.
	l, err = OpenLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	newer := bundle.Name{Repository: "team/app", Tag: "2.0"}
	if err := l.AddEntries(entry(app, "c"), entry(newer, "d")); err != nil {
		t.Fatal(err)
	}
	got, err := l.Index()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Annotations[bundle.AnnotationRefName]+"="+e.Digest.String())
	}
	want := []string{"team/app:1.0=" + hashOf(t, "c").String(), "team/other:1.0=" + hashOf(t, "b").String(), "team/app:2.0=" + hashOf(t, "d").String()}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %v, want %v", names, want)
	}
	e, ok, err := l.Entry(app)
	if err != nil || !ok || e.Digest != hashOf(t, "c") {
		t.Fatalf("Entry(team/app:1.0) = %v, %v, %v", e.Digest, ok, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "oci-layout")); err != nil || string(b) != layoutFile {
		t.Fatalf("oci-layout = %q, %v", b, err)
	}
}

func TestNewLayoutIsValid(t *testing.T) {
	dir := t.TempDir()
	openLayout(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"manifests": []`) || !strings.Contains(string(b), `"schemaVersion": 2`) {
		t.Fatalf("index.json of an empty layout:\n%s", b)
	}
}

func TestOpenLayoutOneWriter(t *testing.T) {
	dir := t.TempDir()
	l := openLayout(t, dir)
	_, err := OpenLayout(dir)
	if err == nil || !strings.Contains(err.Error(), "bundle "+dir+" is in use by another export or mirror") {
		t.Fatalf("second OpenLayout of a layout in use: err = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	openLayout(t, dir) // free again once closed
}

func TestOpenLayoutRefusesOtherDirectories(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  string // error substring; "" for success
	}{
		{"missing", nil, ""},
		{"empty", []string{}, ""},
		{"only temp files of a first run", []string{tempPrefix + "lock", tempPrefix + "index.json-1"}, ""},
		{"someone's home", []string{".bashrc", "notes.txt"}, "is not empty and has no oci-layout file (it holds .bashrc, notes.txt)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if tt.files != nil {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l, err := OpenLayout(dir)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				l.Close()
				if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), dir+" "+tt.want) {
				t.Fatalf("err = %v, want one naming %s with %q", err, dir, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err == nil {
				t.Fatal("the directory was turned into a layout")
			}
		})
	}
}

func TestReadBlobRefusesLargeManifests(t *testing.T) {
	l := openLayout(t, t.TempDir())
	big := strings.Repeat(" ", bundle.MaxManifestBytes+1)
	h := hashOf(t, big)
	if err := l.WriteBlob(h, int64(len(big)), strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	b, ok, err := l.ReadBlob(h, int64(len(big)))
	if err == nil || !strings.Contains(err.Error(), "manifest "+h.String()) || ok || b != nil {
		t.Fatalf("ReadBlob of a %d byte blob = %d bytes, %v, %v; want an error naming %s", len(big), len(b), ok, err, h)
	}
	small := `{"schemaVersion":2}`
	hs := hashOf(t, small)
	if err := l.WriteBlob(hs, int64(len(small)), strings.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := l.ReadBlob(hs, int64(len(small))); err != nil || !ok || string(b) != small {
		t.Fatalf("ReadBlob of a manifest = %q, %v, %v", b, ok, err)
	}
}
