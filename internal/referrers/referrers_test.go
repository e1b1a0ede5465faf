package referrers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/referrers"
	"github.com/registry-stack/registry-stack/internal/registry"
)

const emptyJSON = "{}"

var emptyDigest = digest.FromString(emptyJSON)

// manifest renders an OCI image manifest on the empty config; subject and
// artifactType are left out when empty.
func manifest(artifactType string, subject *v1.Descriptor, annotations map[string]string) []byte {
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     v1.MediaTypeImageManifest,
		"config":        v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: emptyDigest, Size: 2},
		"layers":        []v1.Descriptor{{MediaType: "application/vnd.oci.empty.v1+json", Digest: emptyDigest, Size: 2}},
	}
	if artifactType != "" {
		m["artifactType"] = artifactType
	}
	if subject != nil {
		m["subject"] = subject
	}
	if annotations != nil {
		m["annotations"] = annotations
	}
	b, _ := json.Marshal(m)
	return b
}

func TestDescribe(t *testing.T) {
	subj := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("s"), Size: 1}
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/x-idx","manifests":[],"subject":{"mediaType":%q,"digest":%q,"size":1}}`,
		v1.MediaTypeImageIndex, v1.MediaTypeImageManifest, subj.Digest)
	tests := []struct {
		name         string
		payload      string
		contentType  string
		wantOK       bool
		wantErr      bool
		artifactType string
		mediaType    string
	}{
		{"artifact type of the manifest", string(manifest("application/x-sig", subj, nil)), "", true, false, "application/x-sig", v1.MediaTypeImageManifest},
		{"config media type without artifact type", string(manifest("", subj, nil)), "", true, false, "application/vnd.oci.empty.v1+json", v1.MediaTypeImageManifest},
		{"index with subject", index, "", true, false, "application/x-idx", v1.MediaTypeImageIndex},
		{"no subject", string(manifest("application/x-sig", nil, nil)), "", false, false, "", ""},
		{"media type from the content type", `{"schemaVersion":2,"config":{"mediaType":"a/b"},"subject":{"digest":"` + subj.Digest.String() + `"}}`, v1.MediaTypeImageManifest, true, false, "a/b", v1.MediaTypeImageManifest},
		{"bad subject digest", `{"subject":{"digest":"sha256:xyz"}}`, "", false, true, "", ""},
		{"not JSON", `{`, "", false, true, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := digest.FromString(tc.payload)
			r, ok, err := referrers.Describe([]byte(tc.payload), tc.contentType, d)
			if ok != tc.wantOK || (err != nil) != tc.wantErr {
				t.Fatalf("ok %v err %v; want ok %v, error %v", ok, err, tc.wantOK, tc.wantErr)
			}
			if !ok {
				return
			}
			if r.Subject != subj.Digest || r.Descriptor.Digest != d || r.Descriptor.Size != int64(len(tc.payload)) ||
				r.Descriptor.ArtifactType != tc.artifactType || r.Descriptor.MediaType != tc.mediaType {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	s := referrers.NewStore(inmemory.New())
	subject := digest.FromString("subject")
	var want []digest.Digest
	for i := range 3 {
		d := digest.FromString(fmt.Sprint(i))
		want = append(want, d)
		if err := s.Add(ctx, "a/b", referrers.Referrer{Subject: subject, Descriptor: v1.Descriptor{Digest: d, ArtifactType: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	got, err := s.List(ctx, "a/b", subject)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("List = %v, %v; want %v", got, err, want)
	}
	if got, _ := s.List(ctx, "a/other", subject); len(got) != 0 {
		t.Errorf("another repository lists %v", got)
	}
	desc, err := s.Get(ctx, "a/b", subject, want[1])
	if err != nil || desc.Digest != want[1] || desc.ArtifactType != "x" {
		t.Errorf("Get = %+v, %v", desc, err)
	}
	if err := s.Remove(ctx, "a/b", subject, want[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "a/b", subject, want[1]); err != nil {
		t.Errorf("removing twice: %v", err)
	}
	if _, err := s.Get(ctx, "a/b", subject, want[1]); err != referrers.ErrNotFound {
		t.Errorf("Get of a removed entry: %v, want ErrNotFound", err)
	}
	// A list emptied by deletions is still a directory the index reports.
	emptied := digest.FromString("emptied")
	if err := s.Add(ctx, "a/b", referrers.Referrer{Subject: emptied, Descriptor: v1.Descriptor{Digest: want[0]}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "a/b", emptied, want[0]); err != nil {
		t.Fatal(err)
	}
	index, err := s.Index(ctx, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	walked := index[subject]
	slices.Sort(walked)
	if !slices.Equal(walked, []digest.Digest{want[0], want[2]}) || len(index) != 2 {
		t.Errorf("Index = %v", index)
	}
	if refs, ok := index[emptied]; !ok || len(refs) != 0 {
		t.Errorf("Index lacks the emptied list: %v", index)
	}
	if err := s.RemoveSubject(ctx, "a/b", subject); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(ctx, "a/b", subject); len(got) != 0 {
		t.Errorf("after RemoveSubject: %v", got)
	}
}

// testRegistry serves the real embedded registry (filesystem storage in a
// temp dir) behind the referrers handler with o (its store and manifests
// are the registry's).
func testRegistry(t testing.TB, o referrers.Options) *httptest.Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	reg, err := registry.New(context.Background(), &cfg, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Shutdown() })
	o.Store, o.Manifests = reg.Referrers(), reg
	srv := httptest.NewServer(referrers.New(o, reg))
	t.Cleanup(srv.Close)
	return srv
}

func do(t testing.TB, method, u, contentType, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// push uploads the empty blob and puts a manifest; it returns the answer.
func push(t testing.TB, srv *httptest.Server, repo, ref string, body []byte) *http.Response {
	t.Helper()
	r := do(t, http.MethodPost, srv.URL+"/v2/"+repo+"/blobs/uploads/", "", "")
	loc, err := r.Location()
	if r.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("blob upload: %s %v", r.Status, err)
	}
	q := loc.Query()
	q.Set("digest", emptyDigest.String())
	loc.RawQuery = q.Encode()
	if r := do(t, http.MethodPut, loc.String(), "application/octet-stream", emptyJSON); r.StatusCode != http.StatusCreated {
		t.Fatalf("blob upload: %s", r.Status)
	}
	return do(t, http.MethodPut, srv.URL+"/v2/"+repo+"/manifests/"+ref, v1.MediaTypeImageManifest, string(body))
}

func list(t *testing.T, srv *httptest.Server, path string) (v1.Index, *http.Response) {
	t.Helper()
	r := do(t, http.MethodGet, srv.URL+path, "", "")
	var idx v1.Index
	if r.StatusCode == http.StatusOK {
		if err := json.NewDecoder(r.Body).Decode(&idx); err != nil {
			t.Fatal(err)
		}
	}
	return idx, r
}

func digests(idx v1.Index) []digest.Digest {
	var out []digest.Digest
	for _, d := range idx.Manifests {
		out = append(out, d.Digest)
	}
	slices.Sort(out)
	return out
}

func TestHandler(t *testing.T) {
	srv := testRegistry(t, referrers.Options{PageSize: 3})
	subjectBody := manifest("application/x-image", nil, nil)
	subject := digest.FromBytes(subjectBody)
	subjDesc := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: subject, Size: int64(len(subjectBody))}

	// A referrer may come before its subject.
	early := manifest("application/x-sig", subjDesc, map[string]string{"n": "early"})
	r := push(t, srv, "team/app", digest.FromBytes(early).String(), early)
	if r.StatusCode != http.StatusCreated || r.Header.Get("OCI-Subject") != subject.String() {
		t.Fatalf("referrer before its subject: %s, OCI-Subject %q", r.Status, r.Header.Get("OCI-Subject"))
	}
	if r := push(t, srv, "team/app", "v1", subjectBody); r.StatusCode != http.StatusCreated || r.Header.Get("OCI-Subject") != "" {
		t.Fatalf("subject: %s, OCI-Subject %q (want none)", r.Status, r.Header.Get("OCI-Subject"))
	}
	want := []digest.Digest{digest.FromBytes(early)}
	sigs := map[digest.Digest]bool{digest.FromBytes(early): true}
	for i := range 5 {
		at := "application/x-sbom"
		if i%2 == 0 {
			at = "application/x-sig"
		}
		b := manifest(at, subjDesc, map[string]string{"n": fmt.Sprint(i)})
		d := digest.FromBytes(b)
		if r := push(t, srv, "team/app", d.String(), b); r.StatusCode != http.StatusCreated || r.Header.Get("OCI-Subject") != subject.String() {
			t.Fatalf("referrer %d: %s, OCI-Subject %q", i, r.Status, r.Header.Get("OCI-Subject"))
		}
		want = append(want, d)
		if at == "application/x-sig" {
			sigs[d] = true
		}
	}
	slices.Sort(want)

	// follow reads every page, returning the digests and the page count.
	follow := func(t *testing.T, path string) ([]digest.Digest, int, []v1.Descriptor) {
		var got []digest.Digest
		var descs []v1.Descriptor
		pages := 0
		for path != "" {
			idx, r := list(t, srv, path)
			if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != v1.MediaTypeImageIndex || idx.MediaType != v1.MediaTypeImageIndex || idx.SchemaVersion != 2 {
				t.Fatalf("GET %s: %s %q %+v", path, r.Status, r.Header.Get("Content-Type"), idx)
			}
			pages++
			got = append(got, digests(idx)...)
			descs = append(descs, idx.Manifests...)
			path = ""
			if link := r.Header.Get("Link"); link != "" {
				u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
				if err != nil {
					t.Fatal(err)
				}
				path = u.String()
			}
		}
		slices.Sort(got)
		return got, pages, descs
	}
	base := "/v2/team/app/referrers/" + subject.String()
	got, pages, descs := follow(t, base)
	if !slices.Equal(got, want) || pages != 2 {
		t.Errorf("all referrers over %d pages: %v; want %v over 2 pages of 3", pages, got, want)
	}
	for _, d := range descs {
		if d.MediaType != v1.MediaTypeImageManifest || d.Annotations["n"] == "" || d.Size == 0 || d.ArtifactType == "" {
			t.Errorf("descriptor %+v lacks media type, size, artifact type or annotations", d)
		}
	}

	tests := []struct {
		name   string
		path   string
		status int
		want   []digest.Digest // nil: not checked
		filter string
	}{
		{"artifactType filter", base + "?artifactType=application/x-sig", 200, slices.Sorted(mapKeys(sigs)), "artifactType"},
		{"n lowers the page", base + "?n=1", 200, nil, ""},
		{"no referrers", "/v2/team/app/referrers/" + digest.FromString("x").String(), 200, []digest.Digest{}, ""},
		{"unknown repository", "/v2/nobody/here/referrers/" + subject.String(), 200, []digest.Digest{}, ""},
		{"bad digest", "/v2/team/app/referrers/sha256:nothex", 400, nil, ""},
		{"bad name", "/v2/Team/referrers/" + subject.String(), 400, nil, ""},
		{"n too large", base + "?n=4", 400, nil, ""},
		{"bad last", base + "?last=x", 400, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status != http.StatusOK {
				if _, r := list(t, srv, tc.path); r.StatusCode != tc.status {
					t.Errorf("status %s, want %d", r.Status, tc.status)
				}
				return
			}
			got, _, _ := follow(t, tc.path)
			if tc.want != nil && !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			_, r := list(t, srv, tc.path)
			if f := r.Header.Get("OCI-Filters-Applied"); f != tc.filter {
				t.Errorf("OCI-Filters-Applied %q, want %q", f, tc.filter)
			}
		})
	}

	// Deleting a referrer removes it from the list; deleting the subject
	// leaves its referrers listed (garbage-collect removes them).
	if r := do(t, http.MethodDelete, srv.URL+"/v2/team/app/manifests/"+want[0].String(), "", ""); r.StatusCode != http.StatusAccepted {
		t.Fatalf("delete referrer: %s", r.Status)
	}
	if got, _, _ := follow(t, base); !slices.Equal(got, want[1:]) {
		t.Errorf("after deleting %s: %v", want[0], got)
	}
	if r := do(t, http.MethodDelete, srv.URL+"/v2/team/app/manifests/"+subject.String(), "", ""); r.StatusCode != http.StatusAccepted {
		t.Fatalf("delete subject: %s", r.Status)
	}
	if got, _, _ := follow(t, base); !slices.Equal(got, want[1:]) {
		t.Errorf("after deleting the subject: %v, want %v", got, want[1:])
	}
}

func mapKeys(m map[digest.Digest]bool) func(func(digest.Digest) bool) {
	return func(yield func(digest.Digest) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestPutWithoutSubjectKeepsBody(t *testing.T) {
	srv := testRegistry(t, referrers.Options{})
	b := manifest("", nil, nil)
	r := push(t, srv, "a", "t", b)
	if r.StatusCode != http.StatusCreated || r.Header.Get("Docker-Content-Digest") != digest.FromBytes(b).String() {
		t.Fatalf("%s %v", r.Status, r.Header)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/a/manifests/t", nil)
	req.Header.Set("Accept", v1.MediaTypeImageManifest)
	g, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Body.Close()
	got, _ := io.ReadAll(g.Body)
	if string(got) != string(b) {
		t.Errorf("stored %s, pushed %s", got, b)
	}
}

func jsonDecode(r *http.Response, v any) error {
	defer r.Body.Close()
	return json.NewDecoder(r.Body).Decode(v)
}

// failingWritesDriver is a storage driver whose writes fail, to see what a
// client gets when the index cannot be written (a real driver fails like
// this when its backend refuses writes).
type failingWritesDriver struct{ storagedriver.StorageDriver }

func (failingWritesDriver) PutContent(context.Context, string, []byte) error {
	return errors.New("injected: storage refuses writes")
}

// TestPutIndexFailure: a manifest with a subject whose entry cannot be
// written is answered with an error (the client pushes again), never with
// 201 and a missing entry.
func TestPutIndexFailure(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	reg, err := registry.New(context.Background(), &cfg, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Shutdown() })
	store := referrers.NewStore(failingWritesDriver{inmemory.New()})
	srv := httptest.NewServer(referrers.New(referrers.Options{Store: store, Manifests: reg}, reg))
	t.Cleanup(srv.Close)
	subject := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("s"), Size: 1}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"without subject", manifest("", nil, nil), http.StatusCreated},
		{"with subject", manifest("application/x-sig", subject, nil), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := push(t, srv, "a", digest.FromBytes(tc.body).String(), tc.body)
			body, _ := io.ReadAll(r.Body)
			if r.StatusCode != tc.status || (tc.status != http.StatusCreated && (r.Header.Get("Docker-Content-Digest") != "" || !strings.Contains(string(body), "push it again"))) {
				t.Errorf("%s %v %s; want %d", r.Status, r.Header, body, tc.status)
			}
		})
	}
}

// TestIndexWithSubject: an image index with a subject is a referrer too,
// listed with its own artifactType.
func TestIndexWithSubject(t *testing.T) {
	srv := testRegistry(t, referrers.Options{})
	child := manifest("", nil, nil)
	if r := push(t, srv, "a", "child", child); r.StatusCode != http.StatusCreated {
		t.Fatal(r.Status)
	}
	childDesc := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(child), Size: int64(len(child))}
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageIndex, "artifactType": "application/x-bundle",
		"manifests": []v1.Descriptor{childDesc}, "subject": subject})
	d := digest.FromBytes(idx)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/a/manifests/"+d.String(), strings.NewReader(string(idx)))
	req.Header.Set("Content-Type", v1.MediaTypeImageIndex)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusCreated || r.Header.Get("OCI-Subject") != subject.Digest.String() {
		t.Fatalf("index PUT: %s, OCI-Subject %q", r.Status, r.Header.Get("OCI-Subject"))
	}
	got, _ := list(t, srv, "/v2/a/referrers/"+subject.Digest.String())
	if len(got.Manifests) != 1 || got.Manifests[0].Digest != d || got.Manifests[0].MediaType != v1.MediaTypeImageIndex || got.Manifests[0].ArtifactType != "application/x-bundle" {
		t.Errorf("listed %+v", got.Manifests)
	}
}
