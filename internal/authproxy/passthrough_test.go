package authproxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func newPassthrough(t *testing.T, base, prefix string, o Options) *httptest.Server {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = testTimeout
	}
	h, err := NewPassthrough(mustURL(t, base), prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestPassthroughPaths(t *testing.T) {
	seen := make(chan string, 1)
	fakeRecordingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.RequestURI()
		io.WriteString(w, "ok")
	})
	tests := []struct {
		name     string
		basePath string
		prefix   string
		in       string
		want     string // "" means not proxied: 404
	}{
		{"strip prefix", "", "/auth", "/auth/realms/demo/account?x=1&y=%20", "/realms/demo/account?x=1&y=%20"},
		{"strip prefix with trailing slash", "", "/auth/", "/auth/realms/demo", "/realms/demo"},
		{"keycloak with /auth relative path keeps it", "/auth", "/auth", "/auth/realms/demo", "/auth/realms/demo"},
		{"base path with trailing slash", "/kc/", "/auth", "/auth/admin/", "/kc/admin/"},
		{"prefix itself", "", "/auth", "/auth", "/"},
		{"escaped slash refused", "", "/auth", "/auth/realms/a%2Fb", ""},
		{"dot-dot refused", "/kc", "/auth", "/auth/../secret", ""},
		{"encoded dot-dot refused", "/kc", "/auth", "/auth/%2e%2e/secret", ""},
		{"single dot refused", "", "/auth", "/auth/./realms", ""},
		{"double slash refused", "", "/auth", "//auth//realms/demo", ""},
		{"token endpoint with trailing slash refused", "", "/auth", "/auth/realms/demo/protocol/docker-v2/auth/", ""},
		{"token endpoint refused", "", "/auth", "/auth/realms/demo/protocol/docker-v2/auth", ""},
		{"no prefix forwards all", "", "", "/realms/demo", "/realms/demo"},
		{"lookalike outside prefix", "", "/auth", "/authx/realms", ""},
		{"root outside prefix", "", "/auth", "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := newPassthrough(t, fakeRecordingKeycloak.URL+tt.basePath, tt.prefix, Options{})
			resp := get(t, proxy.URL+tt.in, nil)
			io.Copy(io.Discard, resp.Body)
			if tt.want == "" {
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("status = %d, want 404", resp.StatusCode)
				}
				select {
				case got := <-seen:
					t.Errorf("Keycloak got %q, want nothing", got)
				default:
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if got := <-seen; got != tt.want {
				t.Errorf("Keycloak got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPassthroughHeaders(t *testing.T) {
	got := make(chan *http.Request, 1)
	fakeRecordingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Clone(r.Context())
		http.SetCookie(w, &http.Cookie{Name: "KEYCLOAK_SESSION", Value: "s", Path: "/"})
		w.WriteHeader(http.StatusFound)
	})
	tests := []struct {
		name      string
		trust     bool
		public    string
		wantHost  func(proxyHost string) string
		wantProto string
		wantFor   string
	}{
		{"untrusted client headers replaced", false, "", func(h string) string { return h }, "http", "127.0.0.1"},
		{"public URL wins over the client's Host", false, "https://registry.internal:8443", func(string) string { return "registry.internal:8443" }, "https", "127.0.0.1"},
		{"trusted proxy headers kept", true, "", func(string) string { return "registry.example.com" }, "https", "203.0.113.7, 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{TrustForwardedHeaders: tt.trust}
			if tt.public != "" {
				o.PublicURL = mustURL(t, tt.public)
			}
			proxy := newPassthrough(t, fakeRecordingKeycloak.URL, "/auth", o)
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/auth/realms/demo/login-actions/authenticate", strings.NewReader("username=alice"))
			req.Header.Set("Cookie", "AUTH_SESSION_ID=abc")
			req.Header.Set("Authorization", "Bearer admin-token")
			req.Header.Set("X-Forwarded-Host", "registry.example.com")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			up := <-got

			if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Set-Cookie"), "KEYCLOAK_SESSION=s") {
				t.Errorf("answer not passed back: %d %v", resp.StatusCode, resp.Header)
			}
			if up.Method != http.MethodPost || up.Header.Get("Cookie") != "AUTH_SESSION_ID=abc" || up.Header.Get("Authorization") != "Bearer admin-token" {
				t.Errorf("request not passed on: %s %v", up.Method, up.Header)
			}
			proxyHost := strings.TrimPrefix(proxy.URL, "http://")
			if h := up.Header.Get("X-Forwarded-Host"); h != tt.wantHost(proxyHost) {
				t.Errorf("X-Forwarded-Host = %q, want %q", h, tt.wantHost(proxyHost))
			}
			if p := up.Header.Get("X-Forwarded-Proto"); p != tt.wantProto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", p, tt.wantProto)
			}
			if f := up.Header.Get("X-Forwarded-For"); f != tt.wantFor {
				t.Errorf("X-Forwarded-For = %q, want %q", f, tt.wantFor)
			}
			if up.Host != strings.TrimPrefix(fakeRecordingKeycloak.URL, "http://") {
				t.Errorf("Host = %q, want Keycloak's own", up.Host)
			}
		})
	}
}

func TestPassthroughFailures(t *testing.T) {
	fakeHangingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	for _, tt := range []struct {
		name, base, wantMsg string
		timeout             time.Duration
	}{
		{"hanging", fakeHangingKeycloak.URL, "no answer within", testTimeout},
		// A refused dial is immediate; a short timeout would make a loaded
		// machine's slow dial look like a hang.
		{"connection refused", closed, "connection refused", 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy := newPassthrough(t, tt.base, "/auth", Options{Timeout: tt.timeout})
			start := time.Now()
			resp := get(t, proxy.URL+"/auth/realms/demo", nil)
			body, _ := io.ReadAll(resp.Body)
			if elapsed := time.Since(start); elapsed > tt.timeout+2*time.Second {
				t.Errorf("answered after %s", elapsed)
			}
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("got %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if e := decodeError(t, body); e.Code != "UNAVAILABLE" || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("error = %+v, want message containing %q", e, tt.wantMsg)
			}
		})
	}
}

func TestPassthroughStreams(t *testing.T) {
	release := make(chan struct{})
	fakeSlowStreamingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "rest")
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	proxy := newPassthrough(t, fakeSlowStreamingKeycloak.URL, "/auth", Options{})

	req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/auth/resources/app.js", nil)
	resp := readFirstChunk(t, req, "first")
	unblock()
	if tail, _ := io.ReadAll(resp.Body); string(tail) != "rest" {
		t.Errorf("rest = %q", tail)
	}
}

func TestNewPassthroughRejectsBadInput(t *testing.T) {
	for _, tt := range []struct{ name, base, prefix string }{
		{"relative base", "/keycloak", "/auth"},
		{"base with query", "http://keycloak?x=1", "/auth"},
		{"prefix without slash", "http://keycloak", "auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPassthrough(mustURL(t, tt.base), tt.prefix, Options{}); err == nil {
				t.Error("accepted bad input")
			}
		})
	}
}

func TestIdleBodyClosesAStalledUpstream(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	b := newIdleBody(pr, 20*time.Millisecond)
	go func() { _, _ = pw.Write([]byte("first")) }()
	buf := make([]byte, 5)
	if n, err := io.ReadFull(b, buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("first read = %q, %v", buf[:n], err)
	}
	// Nothing more arrives: the read must end with an error, not hang.
	done := make(chan error, 1)
	go func() { _, err := b.Read(buf); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read from a stalled body returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read from a stalled body hung")
	}
}
