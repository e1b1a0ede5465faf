package stack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/server"
)

// standIn answers like each mounted part does to a request without
// credentials: the registry and the token endpoint with 401 and a
// challenge, the rest with 200. One stack.New per process is all
// distribution's global metrics allow, so the composition is tested here
// and the real parts in cmd/registry-stack's cors_e2e_test.go.
func standIn(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://registry.internal:5000/auth/token",service="registry"`)
		}
		w.WriteHeader(status)
	})
}

// TestWithCORS: a listed origin (either spelling) may preflight and read
// every /v2 route, the token endpoint and the key set, 401s included; an
// unlisted one gets no CORS header anywhere; the UI, probes, metrics and
// the Keycloak passthrough never answer another origin.
func TestWithCORS(t *testing.T) {
	const listed, older, unlisted = "https://ui.example.com", "https://old.example.com", "https://evil.example"
	cfg := config.Default()
	cfg.HTTP.CORSOrigins = []string{listed}
	cfg.Keycloak.CORSOrigins = []string{older}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rt := server.Routes{
		Registry:        standIn(http.StatusUnauthorized),
		TokenPath:       "/auth/token",
		Token:           standIn(http.StatusUnauthorized),
		Exact:           map[string]http.Handler{JWKSPath: standIn(http.StatusOK)},
		AuthPassthrough: standIn(http.StatusOK),
		Metrics:         standIn(http.StatusOK),
		UI:              standIn(http.StatusOK),
	}
	if err := withCORS(&cfg, &rt, "GET, POST"); err != nil {
		t.Fatal(err)
	}
	h := server.NewHandler(rt)
	digest := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name, method, path, origin string
		preflight                  string // Access-Control-Request-Method; empty: an actual request
		wantStatus                 int
		granted                    bool
	}{
		{"catalog preflight", http.MethodOptions, "/v2/_catalog", listed, "GET", 204, true},
		{"base preflight", http.MethodOptions, "/v2/", listed, "GET", 204, true},
		{"manifest delete preflight", http.MethodOptions, "/v2/team/app/manifests/" + digest, listed, "DELETE", 204, true},
		{"upload preflight", http.MethodOptions, "/v2/team/app/blobs/uploads/x", listed, "PATCH", 204, true},
		{"preflight, older spelling", http.MethodOptions, "/v2/_catalog", older, "GET", 204, true},
		{"catalog", http.MethodGet, "/v2/_catalog", listed, "", 401, true},
		{"manifest head", http.MethodHead, "/v2/team/app/manifests/v1", listed, "", 401, true},
		{"older spelling", http.MethodGet, "/v2/", older, "", 401, true},
		{"token preflight", http.MethodOptions, "/auth/token", listed, "POST", 204, true},
		{"token", http.MethodGet, "/auth/token?service=registry", listed, "", 401, true},
		{"key set", http.MethodGet, JWKSPath, listed, "", 200, true},
		{"unlisted preflight", http.MethodOptions, "/v2/_catalog", unlisted, "GET", 403, false},
		{"unlisted request", http.MethodGet, "/v2/_catalog", unlisted, "", 401, false},
		{"unlisted token preflight", http.MethodOptions, "/auth/token", unlisted, "GET", 403, false},
		{"unlisted key set", http.MethodGet, JWKSPath, unlisted, "", 200, false},
		{"passthrough", http.MethodGet, "/auth/realms/demo/account", listed, "", 200, false},
		{"probe", http.MethodGet, "/healthz", listed, "", 200, false},
		{"metrics", http.MethodGet, "/metrics", listed, "", 200, false},
		{"ui page", http.MethodGet, "/r/team/app", listed, "", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://registry.internal:5000"+tt.path, nil)
			r.Header.Set("Origin", tt.origin)
			if tt.preflight != "" {
				r.Header.Set("Access-Control-Request-Method", tt.preflight)
				r.Header.Set("Access-Control-Request-Headers", "authorization")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			hdr := w.Header()
			if w.Code != tt.wantStatus {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, w.Code, tt.wantStatus)
			}
			acao, creds := hdr.Get("Access-Control-Allow-Origin"), hdr.Get("Access-Control-Allow-Credentials")
			if !tt.granted {
				if acao != "" || creds != "" {
					t.Errorf("Allow-Origin %q, Allow-Credentials %q; want none", acao, creds)
				}
				return
			}
			if acao != tt.origin || creds != "true" {
				t.Errorf("Allow-Origin %q, Allow-Credentials %q; want %s, true", acao, creds, tt.origin)
			}
			if tt.preflight != "" {
				if !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), tt.preflight) || !strings.Contains(hdr.Get("Access-Control-Allow-Headers"), "Authorization") {
					t.Errorf("grants methods %q, headers %q", hdr.Get("Access-Control-Allow-Methods"), hdr.Get("Access-Control-Allow-Headers"))
				}
				return
			}
			if exp := hdr.Get("Access-Control-Expose-Headers"); !strings.Contains(exp, "WWW-Authenticate") || !strings.Contains(exp, "Docker-Content-Digest") {
				t.Errorf("Expose-Headers %q", exp)
			}
		})
	}
}
