package cors

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// behind records whether the wrapped handler ran and answers like the
// registry does to a request without a token: 401 with a challenge.
type behind struct{ called bool }

func (b *behind) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b.called = true
	w.Header().Set("WWW-Authenticate", `Bearer realm="http://registry.internal:5000/auth/token",service="registry"`)
	w.Header().Set("Docker-Content-Digest", "sha256:0000")
	w.WriteHeader(http.StatusUnauthorized)
}

func TestHandler(t *testing.T) {
	p, err := New([]string{"https://ui.example.com", "HTTPS://Other.Example.com:443"}, false)
	if err != nil {
		t.Fatal(err)
	}
	trusting, err := New(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	preflight := map[string]string{"Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "authorization"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name   string
		policy *Policy
		method string
		header map[string]string
		// want is Access-Control-Allow-Origin; empty: no CORS header at all.
		want       string
		wantStatus int
		wantNext   bool // the wrapped handler answered
	}{
		{"listed origin, actual request", p, http.MethodGet, map[string]string{"Origin": "https://ui.example.com"}, "https://ui.example.com", 401, true},
		{"listed origin normalised in config", p, http.MethodGet, map[string]string{"Origin": "https://other.example.com"}, "https://other.example.com", 401, true},
		{"listed origin, preflight", p, http.MethodOptions, with(preflight, "Origin", "https://ui.example.com"), "https://ui.example.com", 204, false},
		{"own origin", p, http.MethodDelete, map[string]string{"Origin": "http://registry.internal:5000"}, "http://registry.internal:5000", 401, true},
		{"own origin, preflight", p, http.MethodOptions, with(preflight, "Origin", "http://registry.internal:5000"), "http://registry.internal:5000", 204, false},
		{"own origin, other port", p, http.MethodGet, map[string]string{"Origin": "http://registry.internal:5001"}, "", 401, true},
		{"own origin, other scheme", p, http.MethodGet, map[string]string{"Origin": "https://registry.internal:5000"}, "", 401, true},
		{"forwarded own origin, trusted", trusting, http.MethodGet, map[string]string{"Origin": "https://registry.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"}, "https://registry.example.com", 401, true},
		{"forwarded own origin, not trusted", p, http.MethodGet, map[string]string{"Origin": "https://registry.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"}, "", 401, true},
		{"unlisted origin is served, not granted", p, http.MethodGet, map[string]string{"Origin": "https://evil.example"}, "", 401, true},
		{"unlisted origin, preflight", p, http.MethodOptions, with(preflight, "Origin", "https://evil.example"), "", 403, false},
		{"suffix of a listed origin", p, http.MethodOptions, with(preflight, "Origin", "https://ui.example.com.evil.example"), "", 403, false},
		{"listed host, other scheme", p, http.MethodOptions, with(preflight, "Origin", "http://ui.example.com"), "", 403, false},
		{"listed host, other port", p, http.MethodOptions, with(preflight, "Origin", "https://ui.example.com:8443"), "", 403, false},
		{"null origin", p, http.MethodOptions, with(preflight, "Origin", "null"), "", 403, false},
		{"origin with a path", p, http.MethodGet, map[string]string{"Origin": "https://ui.example.com/x"}, "", 401, true},
		{"no origin", p, http.MethodGet, nil, "", 401, true},
		{"plain OPTIONS, no preflight", p, http.MethodOptions, map[string]string{"Origin": "https://ui.example.com"}, "https://ui.example.com", 401, true},
		{"OPTIONS without origin", p, http.MethodOptions, preflight, "", 401, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &behind{}
			r := httptest.NewRequest(tt.method, "http://registry.internal:5000/v2/a/b/manifests/v1", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			p := tt.policy
			p.Handler(next, Registry()).ServeHTTP(w, r)
			h := w.Header()

			if w.Code != tt.wantStatus || next.called != tt.wantNext {
				t.Errorf("status %d, wrapped handler ran %v; want %d, %v", w.Code, next.called, tt.wantStatus, tt.wantNext)
			}
			if got := h.Values("Vary"); len(got) != 1 || got[0] != "Origin" {
				t.Errorf("Vary = %q, want exactly Origin", got)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.want {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.want)
			}
			granted := tt.want != ""
			for _, k := range []string{"Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers"} {
				if !granted && h.Get(k) != "" {
					t.Errorf("%s = %q for an origin that is not granted", k, h.Get(k))
				}
			}
			if !granted {
				return
			}
			if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("Allow-Credentials = %q, want true", got)
			}
			if tt.wantStatus == http.StatusNoContent {
				wantList(t, "Allow-Methods", h.Get("Access-Control-Allow-Methods"), "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
				wantList(t, "Allow-Headers", h.Get("Access-Control-Allow-Headers"), "Authorization", "Content-Type", "Content-Range", "Accept")
				if got := h.Get("Access-Control-Max-Age"); got != PreflightMaxAge {
					t.Errorf("Max-Age = %q, want %s", got, PreflightMaxAge)
				}
				return
			}
			wantList(t, "Expose-Headers", h.Get("Access-Control-Expose-Headers"),
				"Docker-Content-Digest", "Link", "WWW-Authenticate", "Content-Range", "Location", "Content-Length", "Docker-Distribution-Api-Version", "OCI-Subject")
		})
	}
}

// wantList checks that a comma-separated header value names each of want.
func wantList(t *testing.T, what, got string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, v := range strings.Split(got, ",") {
		have[strings.ToLower(strings.TrimSpace(v))] = true
	}
	for _, w := range want {
		if !have[strings.ToLower(w)] {
			t.Errorf("%s = %q, lacks %s", what, got, w)
		}
	}
}

// TestRefusedPreflightBody: the refusal is a registry error that names the
// setting, and does not echo the origin it refuses.
func TestRefusedPreflightBody(t *testing.T) {
	p, err := New(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodOptions, "http://registry.internal:5000/v2/_catalog", nil)
	r.Header.Set("Origin", "https://evil.example")
	r.Header.Set("Access-Control-Request-Method", "GET")
	w := httptest.NewRecorder()
	p.Handler(&behind{}, Registry()).ServeHTTP(w, r)
	var body struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("body %q: %v, want one registry error", w.Body, err)
	}
	if e := body.Errors[0]; e.Code != "DENIED" || !strings.Contains(e.Message, "http.cors_origins") {
		t.Errorf("error = %+v, want DENIED naming http.cors_origins", e)
	}
	if strings.Contains(w.Body.String(), "evil.example") {
		t.Errorf("body echoes the refused origin: %s", w.Body)
	}
}

func TestRules(t *testing.T) {
	for _, tt := range []struct {
		rule          Rule
		methods, hdrs []string
	}{
		{Registry(), []string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"}, []string{"Authorization", "Content-Type", "Content-Range", "Accept"}},
		{TokenEndpoint("GET, POST"), []string{"GET", "POST"}, []string{"Authorization", "X-Requested-With", "Accept"}},
		{Public(), []string{"GET", "HEAD"}, nil},
	} {
		wantList(t, "methods", tt.rule.Methods, tt.methods...)
		wantList(t, "headers", tt.rule.Headers, tt.hdrs...)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, o := range []string{"*", "https://*.example.com", "null", "https://ui.example.com/app", "ui.example.com"} {
		if _, err := New([]string{o}, false); err == nil {
			t.Errorf("New(%q) accepted it", o)
		}
	}
}

// BenchmarkHandler: what the wrapper adds to every /v2 request, without an
// Origin (docker, curl) and from a listed origin.
func BenchmarkHandler(b *testing.B) {
	p, err := New([]string{"https://ui.example.com"}, false)
	if err != nil {
		b.Fatal(err)
	}
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), Registry())
	for _, origin := range []string{"", "https://ui.example.com"} {
		b.Run("origin="+origin, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "http://registry.internal:5000/v2/a/b/manifests/v1", nil)
			if origin != "" {
				r.Header.Set("Origin", origin)
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
