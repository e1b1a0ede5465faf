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
			l, err := OpenLayout(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			err = l.WriteBlob(tt.digest, tt.size, strings.NewReader(tt.body))
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
	if _, err := OpenLayout(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"manifests": []`) || !strings.Contains(string(b), `"schemaVersion": 2`) {
		t.Fatalf("index.json of an empty layout:\n%s", b)
	}
}
