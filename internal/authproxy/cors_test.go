package authproxy

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/registry-stack/registry-stack/internal/cors"
)

func TestCORS(t *testing.T) {
	var upstreamCalls atomic.Int32
	fakeCountingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(recordedToken))
	})

	tests := []struct {
		name          string
		method        string
		trust         bool
		hdr           map[string]string
		wantStatus    int
		wantACAO      string
		wantPreflight bool
		wantUpstream  bool
	}{
		{
			name: "allowed origin", method: http.MethodGet,
			hdr:        map[string]string{"Origin": "https://ui.example.com"},
			wantStatus: http.StatusOK, wantACAO: "https://ui.example.com", wantUpstream: true,
		},
		{
			name: "allowed origin, other case and default port in config", method: http.MethodGet,
			hdr:        map[string]string{"Origin": "https://other.example.com"},
			wantStatus: http.StatusOK, wantACAO: "https://other.example.com", wantUpstream: true,
		},
		{
			name: "foreign origin is served but not granted", method: http.MethodGet,
			hdr:        map[string]string{"Origin": "https://evil.example"},
			wantStatus: http.StatusOK, wantUpstream: true,
		},
		{
			name: "suffix of an allowed origin is foreign", method: http.MethodGet,
			hdr:        map[string]string{"Origin": "https://ui.example.com.evil.example"},
			wantStatus: http.StatusOK, wantUpstream: true,
		},
		{
			name: "null origin is foreign", method: http.MethodGet,
			hdr:        map[string]string{"Origin": "null"},
			wantStatus: http.StatusOK, wantUpstream: true,
		},
		{
			name: "same origin", method: http.MethodGet,
			hdr:        map[string]string{"Origin": "http://registry.internal:5000"},
			wantStatus: http.StatusOK, wantACAO: "http://registry.internal:5000", wantUpstream: true,
		},
		{
			name: "forwarded same origin, trusted", method: http.MethodGet, trust: true,
			hdr:        map[string]string{"Origin": "https://registry.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
			wantStatus: http.StatusOK, wantACAO: "https://registry.example.com", wantUpstream: true,
		},
		{
			name: "forwarded same origin, not trusted", method: http.MethodGet,
			hdr:        map[string]string{"Origin": "https://registry.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
			wantStatus: http.StatusOK, wantUpstream: true,
		},
		{
			name: "preflight from allowed origin", method: http.MethodOptions,
			hdr:        map[string]string{"Origin": "https://ui.example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization, x-requested-with"},
			wantStatus: http.StatusNoContent, wantACAO: "https://ui.example.com", wantPreflight: true,
		},
		{
			name: "preflight from same origin", method: http.MethodOptions,
			hdr:        map[string]string{"Origin": "http://registry.internal:5000", "Access-Control-Request-Method": "GET"},
			wantStatus: http.StatusNoContent, wantACAO: "http://registry.internal:5000", wantPreflight: true,
		},
		{
			name: "preflight from foreign origin", method: http.MethodOptions,
			hdr:        map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
			wantStatus: http.StatusNoContent,
		},
		{
			name: "plain OPTIONS", method: http.MethodOptions,
			wantStatus: http.StatusNoContent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(Options{
				UpstreamURL:           mustURL(t, fakeCountingKeycloak.URL+"/realms/demo/protocol/docker-v2/auth"),
				KeycloakRealm:         "demo",
				Service:               "registry",
				AllowedOrigins:        []string{"https://ui.example.com", "HTTPS://Other.Example.com:443"},
				TrustForwardedHeaders: tt.trust,
				Timeout:               testTimeout,
			})
			if err != nil {
				t.Fatal(err)
			}
			before := upstreamCalls.Load()
			req := httptest.NewRequest(tt.method, "http://registry.internal:5000/auth/realms/demo/protocol/docker-v2/auth?service=registry", nil)
			req.Header.Set("Authorization", basic("alice", "pw"))
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()

			if res.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if got := res.Header.Get("Allow"); tt.method == http.MethodOptions && got != "GET, OPTIONS" {
				t.Errorf("Allow = %q, want GET, OPTIONS", got)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantACAO)
			}
			if got := res.Header.Get("Vary"); got != "Origin" {
				t.Errorf("Vary = %q, want Origin", got)
			}
			if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("Access-Control-Allow-Credentials = %q, want none", got)
			}
			methods, headers, maxAge := res.Header.Get("Access-Control-Allow-Methods"), res.Header.Get("Access-Control-Allow-Headers"), res.Header.Get("Access-Control-Max-Age")
			if tt.wantPreflight {
				if methods != "GET, OPTIONS" || headers != "Authorization, X-Requested-With, Accept" || maxAge != cors.PreflightMaxAge {
					t.Errorf("preflight grants = %q / %q / %q", methods, headers, maxAge)
				}
			} else if methods != "" || headers != "" || maxAge != "" {
				t.Errorf("unexpected preflight grants %q / %q / %q", methods, headers, maxAge)
			}
			if called := upstreamCalls.Load() != before; called != tt.wantUpstream {
				t.Errorf("Keycloak called = %v, want %v", called, tt.wantUpstream)
			}
		})
	}
}
