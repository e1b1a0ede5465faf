package digestalias_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/registry"
)

// newRegistry is the stack's real registry (distribution with this
// package in front) on filesystem storage in a temporary data dir.
func newRegistry(t testing.TB) (*registry.Registry, *config.Config) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Storage.Delete = true
	cfg.HTTPSecret = strings.Repeat("s", 32)
	r, err := registry.New(context.Background(), &cfg, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown() })
	return r, &cfg
}

func do(t testing.TB, h http.Handler, method, target string, body []byte, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// pushBlob uploads content in one PUT completing a POST-started session,
// finishing with digest d, and returns the answer of the PUT.
func pushBlob(t testing.TB, h http.Handler, repo string, content []byte, d digest.Digest) *httptest.ResponseRecorder {
	t.Helper()
	w := do(t, h, "POST", "/v2/"+repo+"/blobs/uploads/", nil)
	if w.Code != http.StatusAccepted {
		t.Fatalf("start upload: %d %s", w.Code, w.Body)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	return do(t, h, "PUT", u.RequestURI(), content, "Content-Type", "application/octet-stream")
}

// ociManifest is an image manifest with config and layers named by d.
func ociManifest(config []byte, layers ...[]byte) []byte {
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": digest.SHA512.FromBytes(b), "size": len(b)}
	}
	var ls []map[string]any
	for _, l := range layers {
		ls = append(ls, desc("application/vnd.oci.image.layer.v1.tar", l))
	}
	b, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", config),
		"layers":        ls,
	})
	return b
}

func wantDigest(t *testing.T, what string, w *httptest.ResponseRecorder, status int, d digest.Digest) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, w.Code, status, w.Body)
	}
	if got := w.Header().Get("Docker-Content-Digest"); got != d.String() {
		t.Errorf("%s: Docker-Content-Digest %q, want %q", what, got, d)
	}
	if loc := w.Header().Get("Location"); loc != "" && !strings.HasSuffix(loc, d.String()) && status == http.StatusCreated {
		t.Errorf("%s: Location %q does not name %s", what, loc, d)
	}
	if etag := w.Header().Get("Etag"); etag != "" && etag != `"`+d.String()+`"` {
		t.Errorf("%s: Etag %q, want %q", what, etag, `"`+d.String()+`"`)
	}
}

// TestSHA512RoundTrip: blobs and manifests pushed by sha512 are answered
// under that digest, mount and delete by it, and a body that does not hash
// to the digest is refused.
func TestSHA512RoundTrip(t *testing.T) {
	r, _ := newRegistry(t)
	cfgBlob, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer content for sha512")
	cfgD, layerD := digest.SHA512.FromBytes(cfgBlob), digest.SHA512.FromBytes(layer)

	wantDigest(t, "push config", pushBlob(t, r, "a/app", cfgBlob, cfgD), http.StatusCreated, cfgD)
	wantDigest(t, "push layer", pushBlob(t, r, "a/app", layer, layerD), http.StatusCreated, layerD)
	for _, m := range []string{"GET", "HEAD"} {
		w := do(t, r, m, "/v2/a/app/blobs/"+layerD.String(), nil)
		wantDigest(t, m+" layer", w, http.StatusOK, layerD)
		if m == "GET" && w.Body.String() != string(layer) {
			t.Errorf("GET layer: body %q", w.Body)
		}
	}
	if w := pushBlob(t, r, "a/app", []byte("other bytes"), layerD); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "DIGEST_INVALID") {
		t.Errorf("blob not matching its sha512: %d %s, want 400 DIGEST_INVALID", w.Code, w.Body)
	}

	// Mount into another repository by the sha512 digest.
	w := do(t, r, "POST", "/v2/b/app/blobs/uploads/?mount="+layerD.String()+"&from=a/app", nil)
	wantDigest(t, "mount", w, http.StatusCreated, layerD)
	wantDigest(t, "GET mounted", do(t, r, "GET", "/v2/b/app/blobs/"+layerD.String(), nil), http.StatusOK, layerD)

	man := ociManifest(cfgBlob, layer)
	manD := digest.SHA512.FromBytes(man)
	mt := "application/vnd.oci.image.manifest.v1+json"
	if w := do(t, r, "PUT", "/v2/a/app/manifests/"+manD.String(), append(man, ' '), "Content-Type", mt); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "DIGEST_INVALID") {
		t.Errorf("manifest not matching its sha512: %d %s, want 400 DIGEST_INVALID", w.Code, w.Body)
	}
	wantDigest(t, "PUT manifest", do(t, r, "PUT", "/v2/a/app/manifests/"+manD.String(), man, "Content-Type", mt), http.StatusCreated, manD)
	for _, m := range []string{"GET", "HEAD"} {
		w := do(t, r, m, "/v2/a/app/manifests/"+manD.String(), nil, "Accept", mt)
		wantDigest(t, m+" manifest", w, http.StatusOK, manD)
		if ct := w.Header().Get("Content-Type"); ct != mt {
			t.Errorf("%s manifest: Content-Type %q", m, ct)
		}
		if m == "GET" && w.Body.String() != string(man) {
			t.Errorf("GET manifest: body %q", w.Body)
		}
	}
	if w := do(t, r, "GET", "/v2/a/app/manifests/"+manD.String(), nil, "Accept", mt, "If-None-Match", `"`+manD.String()+`"`); w.Code != http.StatusNotModified {
		t.Errorf("GET manifest If-None-Match its sha512: %d, want 304", w.Code)
	}

	// Delete by sha512: gone under both digests.
	if w := do(t, r, "DELETE", "/v2/a/app/manifests/"+manD.String(), nil); w.Code != http.StatusAccepted {
		t.Fatalf("DELETE manifest: %d %s", w.Code, w.Body)
	}
	for _, d := range []digest.Digest{manD, digest.SHA256.FromBytes(man)} {
		if w := do(t, r, "HEAD", "/v2/a/app/manifests/"+d.String(), nil, "Accept", mt); w.Code != http.StatusNotFound {
			t.Errorf("HEAD deleted manifest %s: %d, want 404", d.Algorithm(), w.Code)
		}
	}
	if w := do(t, r, "DELETE", "/v2/a/app/blobs/"+layerD.String(), nil); w.Code != http.StatusAccepted {
		t.Fatalf("DELETE blob: %d %s", w.Code, w.Body)
	}
	if w := do(t, r, "GET", "/v2/a/app/blobs/"+layerD.String(), nil); w.Code != http.StatusNotFound {
		t.Errorf("GET deleted blob: %d, want 404", w.Code)
	}
	// Unknown sha512 digests are distribution's 404s.
	unknown := digest.SHA512.FromString("never pushed")
	for _, p := range []string{"blobs", "manifests"} {
		if w := do(t, r, "GET", "/v2/a/app/"+p+"/"+unknown.String(), nil); w.Code != http.StatusNotFound {
			t.Errorf("GET unknown %s: %d, want 404", p, w.Code)
		}
	}
}

// TestNonDistributableLayer: a layer with urls, its blob never pushed, is
// accepted by default.
func TestNonDistributableLayer(t *testing.T) {
	r, _ := newRegistry(t)
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux"}`)
	cfgD := digest.SHA256.FromBytes(cfgBlob)
	if w := pushBlob(t, r, "nd/app", cfgBlob, cfgD); w.Code != http.StatusCreated {
		t.Fatalf("push config: %d %s", w.Code, w.Body)
	}
	layerD := digest.SHA256.FromString("foreign layer")
	man := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":%q,"size":1234,"urls":["https://store.example.com/%s"]}]}`,
		cfgD, len(cfgBlob), layerD, layerD.Encoded())
	w := do(t, r, "PUT", "/v2/nd/app/manifests/v1", []byte(man), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if w.Code != http.StatusCreated {
		t.Fatalf("PUT manifest with a non-distributable layer: %d %s", w.Code, w.Body)
	}
	if w := do(t, r, "GET", "/v2/nd/app/manifests/v1", nil, "Accept", "application/vnd.oci.image.manifest.v1+json"); w.Code != http.StatusOK || w.Body.String() != man {
		t.Errorf("GET: %d %s", w.Code, w.Body)
	}
}
