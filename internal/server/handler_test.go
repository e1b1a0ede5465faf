package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stub is an http.Handler that records the paths it served.
type stub struct {
	name string
	mu   sync.Mutex
	hits []string
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits = append(s.hits, r.URL.Path)
	s.mu.Unlock()
	w.Header().Set("X-Stub", s.name)
	_, _ = w.Write([]byte(s.name))
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hits)
}

const tokenPath = "/auth/realms/r/protocol/docker-v2/auth"

func TestNewHandlerRouting(t *testing.T) {
	full := func() Routes {
		return Routes{
			Registry:        &stub{name: "registry"},
			TokenPath:       tokenPath,
			Token:           &stub{name: "token"},
			AuthPassthrough: &stub{name: "passthrough"},
			Metrics:         &stub{name: "metrics"},
			UI:              &stub{name: "ui"},
		}
	}
	noPassthrough := func() Routes { r := full(); r.AuthPassthrough = nil; return r }
	noTokenPath := func() Routes { r := full(); r.TokenPath = ""; return r }
	bare := func() Routes { return Routes{} }

	tests := []struct {
		name         string
		routes       func() Routes
		method, path string
		want         string // stub name; "healthz"; or "" for 404 from the router
		wantStatus   int
	}{
		{"registry root", full, "GET", "/v2/", "registry", 200},
		{"registry without slash", full, "GET", "/v2", "registry", 200},
		{"registry manifest", full, "PUT", "/v2/a/b/manifests/latest", "registry", 200},
		{"registry path is not cleaned", full, "GET", "/v2/a/../b/tags/list", "registry", 200},
		{"registry encoded path", full, "GET", "/v2/a%2Fb/tags/list", "registry", 200},
		{"v2-like path is not the UI's", full, "GET", "/v2foo", "", 404},
		{"v1 search is not the UI's (podman search)", full, "GET", "/v1/search?q=team&n=25", "", 404},
		{"token-like path is not the UI's", full, "GET", "/token", "", 404},
		{"probe subpath is not the UI's", full, "GET", "/healthz/x", "", 404},
		{"healthz POST with a UI", full, "POST", "/healthz", "", 405},
		{"token endpoint POST", full, "POST", tokenPath, "token", 200},
		{"token path wins over passthrough", full, "GET", tokenPath, "token", 200},
		{"other auth path to passthrough", full, "GET", "/auth/realms/r/account", "passthrough", 200},
		{"auth root to passthrough", full, "GET", "/auth/", "passthrough", 200},
		{"healthz GET", full, "GET", "/healthz", "healthz", 200},
		{"healthz HEAD", full, "HEAD", "/healthz", "healthz", 200},
		{"metrics", full, "GET", "/metrics", "metrics", 200},
		{"ui root", full, "GET", "/", "ui", 200},
		{"ui deep link", full, "GET", "/repositories/a/b", "ui", 200},
		{"ui asset", full, "GET", "/assets/app.js", "ui", 200},
		{"no passthrough: token still served", noPassthrough, "GET", tokenPath, "token", 200},
		{"no passthrough: other auth path is not the UI's", noPassthrough, "GET", "/auth/realms/r/account", "", 404},
		{"no passthrough: dot segments under auth", noPassthrough, "GET", "/auth/../index.html", "", 404},
		{"no token path: token not mounted", noTokenPath, "GET", tokenPath, "passthrough", 200},
		{"bare: registry not mounted", bare, "GET", "/v2/", "", 404},
		{"bare: token not mounted", bare, "GET", tokenPath, "", 404},
		{"bare: auth not mounted", bare, "GET", "/auth/x", "", 404},
		{"bare: metrics not mounted", bare, "GET", "/metrics", "", 404},
		{"bare: no ui", bare, "GET", "/", "", 404},
		{"bare: healthz always there", bare, "GET", "/healthz", "healthz", 200},
		{"bare: healthz rejects POST", bare, "POST", "/healthz", "", 405},
		{"bare: readyz always there", bare, "GET", "/readyz", "readyz", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := tt.routes()
			h := NewHandler(rt)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			got := w.Header().Get("X-Stub")
			switch tt.want {
			case "healthz":
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if tt.method == "GET" && strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
					t.Errorf("body = %q", w.Body)
				}
			case "readyz":
				if !strings.Contains(w.Body.String(), `"ready":true`) {
					t.Errorf("body = %q", w.Body)
				}
			default:
				if got != tt.want {
					t.Errorf("served by %q, want %q", got, tt.want)
				}
			}
			// Exactly the expected stub was hit, and only once.
			for _, s := range []http.Handler{rt.Registry, rt.Token, rt.AuthPassthrough, rt.Metrics, rt.UI} {
				st, ok := s.(*stub)
				if !ok {
					continue
				}
				want := 0
				if st.name == tt.want {
					want = 1
				}
				if n := st.count(); n != want {
					t.Errorf("%s hit %d times, want %d", st.name, n, want)
				}
			}
		})
	}
}

func TestNewHandlerPreservesRegistryPath(t *testing.T) {
	reg := &stub{name: "registry"}
	h := NewHandler(Routes{Registry: reg})
	for _, p := range []string{"/v2/a/../b/tags/list", "/v2//x/manifests/latest", "/v2/a/./b/blobs/uploads/"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		if w.Code != 200 {
			t.Errorf("%s: status %d (redirected or not routed)", p, w.Code)
		}
	}
	want := []string{"/v2/a/../b/tags/list", "/v2//x/manifests/latest", "/v2/a/./b/blobs/uploads/"}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if strings.Join(reg.hits, " ") != strings.Join(want, " ") {
		t.Errorf("registry saw %q, want %q", reg.hits, want)
	}
}

type readyBody struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func ok(context.Context) error { return nil }

func TestReadyHandler(t *testing.T) {
	tests := []struct {
		name       string
		checks     []Check
		wantStatus int
		wantChecks map[string]string
	}{
		{"no checks", nil, 200, map[string]string{}},
		{"all ok", []Check{CheckFunc("storage", ok), CheckFunc("keys", ok)}, 200, map[string]string{"storage": "ok", "keys": "ok"}},
		{
			"one failing",
			[]Check{CheckFunc("storage", ok), CheckFunc("keys", func(context.Context) error { return errors.New("no signing keys loaded") })},
			503,
			map[string]string{"storage": "ok", "keys": "no signing keys loaded"},
		},
		{
			"all failing",
			[]Check{
				CheckFunc("storage", func(context.Context) error { return errors.New("stat /: permission denied") }),
				CheckFunc("keys", func(context.Context) error { return errors.New("keycloak unreachable") }),
			},
			503,
			map[string]string{"storage": "stat /: permission denied", "keys": "keycloak unreachable"},
		},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				w := httptest.NewRecorder()
				NewHandler(Routes{Ready: tt.checks}).ServeHTTP(w, httptest.NewRequest(method, "/readyz", nil))
				if w.Code != tt.wantStatus {
					t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
				}
				if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if method == "HEAD" {
					return
				}
				var b readyBody
				if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
					t.Fatalf("body %q: %v", w.Body, err)
				}
				if b.Ready != (tt.wantStatus == 200) {
					t.Errorf("ready = %v with status %d", b.Ready, tt.wantStatus)
				}
				if len(b.Checks) != len(tt.wantChecks) {
					t.Errorf("checks = %v, want %v", b.Checks, tt.wantChecks)
				}
				for k, v := range tt.wantChecks {
					if b.Checks[k] != v {
						t.Errorf("checks[%s] = %q, want %q", k, b.Checks[k], v)
					}
				}
			})
		}
	}
}

// Every check gets a context bounded by the probe deadline and derived from
// the request, so a probe whose client goes away stops its checks.
func TestReadyHandlerCheckContext(t *testing.T) {
	var deadline time.Time
	var hasDeadline bool
	check := CheckFunc("storage", func(ctx context.Context) error {
		deadline, hasDeadline = ctx.Deadline()
		return nil
	})
	start := time.Now()
	w := httptest.NewRecorder()
	readyHandler([]Check{check}, defaultReadyTimeout).ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 200 {
		t.Fatalf("status = %d", w.Code)
	}
	if !hasDeadline {
		t.Fatal("check context has no deadline")
	}
	if deadline.After(start.Add(time.Minute)) {
		t.Errorf("check deadline %v is not short", deadline.Sub(start))
	}

	// A cancelled request cancels the checks.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var seen error
	w = httptest.NewRecorder()
	readyHandler([]Check{CheckFunc("storage", func(ctx context.Context) error { seen = ctx.Err(); return seen })}, defaultReadyTimeout).
		ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil).WithContext(ctx))
	if !errors.Is(seen, context.Canceled) {
		t.Errorf("check saw ctx.Err() = %v, want context.Canceled", seen)
	}
	if w.Code != 503 {
		t.Errorf("status = %d, want 503", w.Code)
	}
}

// A check that never returns on its own is cut off by its deadline, and the
// healthy check listed after it still reports ok.
func TestReadyHandlerHungCheck(t *testing.T) {
	hung := CheckFunc("keys", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	h := NewHandler(Routes{Ready: []Check{hung, CheckFunc("storage", ok)}, ReadyTimeout: 50 * time.Millisecond})
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("readiness probe hung with a hung check")
	}
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", w.Code)
	}
	var b readyBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.Ready || b.Checks["storage"] != "ok" || !strings.Contains(b.Checks["keys"], context.DeadlineExceeded.Error()) {
		t.Errorf("body = %+v", b)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

// A protocol path nothing serves answers with a registry error body, never
// the UI's page: podman search reads /v1/search's answer as JSON.
func TestProtocolPathsNeverGetTheUI(t *testing.T) {
	h := NewHandler(Routes{UI: &stub{name: "ui"}})
	for _, path := range []string{"/v1/search?q=team&n=25", "/v2/", "/auth/realms/x", "/token", "/readyz/deep"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		var body struct{ Errors []struct{ Code string } }
		if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/json" ||
			json.Unmarshal(w.Body.Bytes(), &body) != nil || len(body.Errors) != 1 || body.Errors[0].Code != "UNSUPPORTED" {
			t.Errorf("%s = %d %q %s, want 404 with a registry error body", path, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
}
