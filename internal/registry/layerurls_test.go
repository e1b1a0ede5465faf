package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestLayerURLs: layers with urls are accepted by default;
// distribution.validation.manifests.urls narrows that, and a refused URL
// is a 400 MANIFEST_INVALID naming the setting, not distribution's 500.
func TestLayerURLs(t *testing.T) {
	const deny = "distribution:\n  validation:\n    manifests:\n      urls:\n        deny: ['^https://evil\\.example/']\n"
	tests := []struct {
		name, yaml, url string
		missingConfig   bool // the config blob is not pushed
		status          int
		code            string
	}{
		{"default allows https", "", "https://store.example.com/x", false, http.StatusCreated, ""},
		{"default allows http", "", "http://store.example.com/x", false, http.StatusCreated, ""},
		{"other schemes are refused", "", "ftp://store.example.com/x", false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"deny list refuses", deny, "https://evil.example/x", false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"deny list lets others through", deny, "https://store.example.com/x", false, http.StatusCreated, ""},
		{"validation disabled", "distribution:\n  validation:\n    disabled: true\n    manifests:\n      urls:\n        deny: ['^https://evil\\.example/']\n", "https://evil.example/x", false, http.StatusCreated, ""},
		{"other errors are distribution's", "", "https://store.example.com/x", true, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRegistry(t, testConfig(t, tt.yaml))
			cfg := []byte(`{"os":"linux"}`)
			cfgD := digest.FromBytes(cfg)
			if !tt.missingConfig {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest("POST", "/v2/nd/app/blobs/uploads/", nil))
				u, _ := url.Parse(w.Header().Get("Location"))
				q := u.Query()
				q.Set("digest", cfgD.String())
				u.RawQuery = q.Encode()
				w = httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest("PUT", u.RequestURI(), strings.NewReader(string(cfg))))
				if w.Code != http.StatusCreated {
					t.Fatalf("push config: %d %s", w.Code, w.Body)
				}
			}
			layer := digest.FromString("foreign")
			man := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
				`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
				`"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":%q,"size":99,"urls":[%q]}]}`,
				cfgD, len(cfg), layer, tt.url)
			req := httptest.NewRequest("PUT", "/v2/nd/app/manifests/v1", strings.NewReader(man))
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.code == "" {
				return
			}
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || len(e.Errors) == 0 || e.Errors[0].Code != tt.code {
				t.Fatalf("body %s (%v), want first code %s", w.Body, err, tt.code)
			}
			if tt.code == "MANIFEST_INVALID" && !strings.Contains(e.Errors[0].Message, "distribution.validation.manifests.urls") {
				t.Errorf("message %q does not name the setting", e.Errors[0].Message)
			}
		})
	}
}
