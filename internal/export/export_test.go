package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/registry-stack/registry-stack/internal/bundle"
	"github.com/registry-stack/registry-stack/internal/progress"
)

// referrersFaultInjector stands in front of a test registry and answers
// the referrers requests of chosen digests itself, to inject lists no
// correct registry serves (cycles, wrong sizes, failures). It records the
// manifests fetched.
type referrersFaultInjector struct {
	next http.Handler

	mu      sync.Mutex
	answers map[string]func(http.ResponseWriter) // by digest
	fetched []string                             // manifest paths GET
}

func (f *referrersFaultInjector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
		f.fetched = append(f.fetched, r.URL.Path)
	}
	var answer func(http.ResponseWriter)
	if _, dg, ok := strings.Cut(r.URL.Path, "/referrers/"); ok {
		answer = f.answers[dg]
	}
	f.mu.Unlock()
	if answer != nil {
		answer(w)
		return
	}
	f.next.ServeHTTP(w, r)
}

// list answers with an index of the given descriptors.
func list(descs ...v1.Descriptor) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		b, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
		w.Header().Set("Content-Type", string(types.OCIImageIndex))
		w.Write(b)
	}
}

func status(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { http.Error(w, http.StatusText(code), code) }
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.b, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

type exportFixture struct {
	inject *referrersFaultInjector
	repo   name.Repository
	app    v1.Descriptor // team/app:1.0
	other  v1.Descriptor // an image that refers to nothing
}

func newExportFixture(t *testing.T) *exportFixture {
	t.Helper()
	inject := &referrersFaultInjector{
		next:    registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))),
		answers: map[string]func(http.ResponseWriter){},
	}
	srv := httptest.NewServer(inject)
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/team/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	f := &exportFixture{inject: inject, repo: repo}
	f.app = f.pushImage(t, repo.Tag("1.0"))
	f.other = f.pushImage(t, repo.Tag("other"))
	return f
}

func (f *exportFixture) pushImage(t *testing.T, ref name.Reference) v1.Descriptor {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

// pushReferrer pushes a signature-like artifact whose subject is subject.
func (f *exportFixture) pushReferrer(t *testing.T, subject v1.Descriptor, note string) v1.Descriptor {
	t.Helper()
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	if err := remote.WriteLayer(f.repo, empty); err != nil {
		t.Fatal(err)
	}
	edesc, err := partial.Descriptor(empty)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  "application/vnd.example.signature",
		"config":        edesc,
		"layers":        []any{edesc},
		"subject":       v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		"annotations":   map[string]string{"note": note},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, size, err := v1.SHA256(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(f.repo.Digest(h.String()), rawManifest{b, types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: size, ArtifactType: "application/vnd.example.signature"}
}

// export runs one export of team/app:1.0 into a new layout.
func (f *exportFixture) export(t *testing.T) result {
	t.Helper()
	// A guard against the walk never ending, not a speed target.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := openLayout(t, t.TempDir())
	// One try: the failures injected are meant, retrying only takes time.
	puller, err := remote.NewPuller(remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	display := progress.NewDisplay(&syncWriter{w: &logs}, false, progress.NewMeter(time.Now))
	_, err = New(l, Options{Puller: puller, Display: display}).Export(ctx, f.repo.Tag("1.0"))
	entries, ierr := l.Index()
	if ierr != nil {
		t.Fatal(ierr)
	}
	byName := map[string]v1.Descriptor{}
	for _, e := range entries {
		byName[e.Annotations[bundle.AnnotationRefName]] = e
	}
	return result{err, byName, logs.String()}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// result is what one export did.
type result struct {
	err     error
	entries map[string]v1.Descriptor // by name
	logs    string
}

func TestExportReferrers(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *exportFixture) func(t *testing.T, r result)
	}{
		{"a real referrer", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			sig := f.pushReferrer(t, f.app, "sig")
			return func(t *testing.T, r result) {
				wantEntries(t, r, "team/app:1.0", "team/app@"+sig.Digest.String())
			}
		}},
		{"a list naming the manifest itself and its ancestor", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			sig := f.pushReferrer(t, f.app, "sig")
			f.inject.answers[f.app.Digest.String()] = list(f.app, sig)
			f.inject.answers[sig.Digest.String()] = list(f.app, sig)
			return func(t *testing.T, r result) {
				wantEntries(t, r, "team/app:1.0", "team/app@"+sig.Digest.String())
				wantLog(t, r.logs, "referrer "+f.app.Digest.String()+" of "+f.app.Digest.String()+" skipped")
				wantLog(t, r.logs, "referrer "+sig.Digest.String()+" of "+sig.Digest.String()+" skipped")
			}
		}},
		{"a listed manifest whose subject is another", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			f.inject.answers[f.app.Digest.String()] = list(f.other)
			return func(t *testing.T, r result) {
				wantEntries(t, r, "team/app:1.0")
				wantLog(t, r.logs, "referrer "+f.other.Digest.String()+" of "+f.app.Digest.String()+" skipped: its subject is not")
			}
		}},
		{"referrers nested 8 deep", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			want := []string{"team/app:1.0"}
			subject := f.app
			for i := range MaxDepth {
				subject = f.pushReferrer(t, subject, fmt.Sprint(i))
				want = append(want, "team/app@"+subject.Digest.String())
			}
			return func(t *testing.T, r result) { wantEntries(t, r, want...) }
		}},
		{"referrers nested 9 deep", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			subject := f.app
			for i := range MaxDepth + 1 {
				subject = f.pushReferrer(t, subject, fmt.Sprint(i))
			}
			return func(t *testing.T, r result) {
				wantErr(t, r, "manifest "+subject.Digest.String()+": children and referrers nest more than 8 deep below "+f.app.Digest.String())
			}
		}},
		{"no referrers API", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			f.inject.answers[f.app.Digest.String()] = status(http.StatusNotFound)
			return func(t *testing.T, r result) { wantEntries(t, r, "team/app:1.0") }
		}},
		{"listing referrers fails", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			f.inject.answers[f.app.Digest.String()] = status(http.StatusInternalServerError)
			return func(t *testing.T, r result) {
				wantErr(t, r, "list referrers of "+f.app.Digest.String()+": ")
				wantErr(t, r, "500")
			}
		}},
		{"listing referrers is forbidden", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			f.inject.answers[f.app.Digest.String()] = status(http.StatusForbidden)
			return func(t *testing.T, r result) { wantErr(t, r, "list referrers of "+f.app.Digest.String()+": ") }
		}},
		{"a referrers list that is not JSON", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			f.inject.answers[f.app.Digest.String()] = func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", string(types.OCIImageIndex))
				io.WriteString(w, "{not json")
			}
			return func(t *testing.T, r result) { wantErr(t, r, "list referrers of "+f.app.Digest.String()+": ") }
		}},
		{"a listed size that is not the manifest's", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			sig := f.pushReferrer(t, f.app, "sig")
			lie := sig
			lie.Size++
			f.inject.answers[f.app.Digest.String()] = list(lie)
			return func(t *testing.T, r result) {
				wantErr(t, r, fmt.Sprintf("manifest %s: %d bytes, its descriptor says %d", sig.Digest, sig.Size, lie.Size))
			}
		}},
		{"a listed media type that is not the manifest's", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			sig := f.pushReferrer(t, f.app, "sig")
			lie := sig
			lie.MediaType, lie.ArtifactType = types.DockerManifestSchema2, "application/vnd.example.lie"
			f.inject.answers[f.app.Digest.String()] = list(lie)
			return func(t *testing.T, r result) {
				wantEntries(t, r, "team/app:1.0", "team/app@"+sig.Digest.String())
				got := r.entries["team/app@"+sig.Digest.String()]
				if got.MediaType != sig.MediaType || got.ArtifactType != sig.ArtifactType || got.Size != sig.Size {
					t.Errorf("referrer entry %s %s %d, want the manifest's %s %s %d", got.MediaType, got.ArtifactType, got.Size, sig.MediaType, sig.ArtifactType, sig.Size)
				}
			}
		}},
		{"a listed manifest over the size limit", func(t *testing.T, f *exportFixture) func(*testing.T, result) {
			sig := f.pushReferrer(t, f.app, "sig")
			lie := sig
			lie.Size = bundle.MaxManifestBytes + 1
			f.inject.answers[f.app.Digest.String()] = list(lie)
			return func(t *testing.T, r result) {
				wantErr(t, r, fmt.Sprintf("manifest %s: %d bytes, over the %d byte limit", sig.Digest, lie.Size, bundle.MaxManifestBytes))
				for _, p := range f.inject.fetched {
					if strings.HasSuffix(p, sig.Digest.String()) {
						t.Errorf("the manifest over the limit was fetched: GET %s", p)
					}
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newExportFixture(t)
			check := tt.setup(t, f)
			check(t, f.export(t))
		})
	}
}

func wantEntries(t *testing.T, r result, names ...string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("export: %v\n%s", r.err, r.logs)
	}
	for _, n := range names {
		if _, ok := r.entries[n]; !ok {
			t.Errorf("no entry %s", n)
		}
	}
	if len(r.entries) != len(names) {
		t.Errorf("%d entries, want %d (%v)\n%s", len(r.entries), len(names), names, r.logs)
	}
}

func wantErr(t *testing.T, r result, want string) {
	t.Helper()
	if r.err == nil || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("export: err = %v, want one with %q\n%s", r.err, want, r.logs)
	}
}

func wantLog(t *testing.T, logs, want string) {
	t.Helper()
	if !strings.Contains(logs, want) {
		t.Errorf("no log line with %q:\n%s", want, logs)
	}
}
