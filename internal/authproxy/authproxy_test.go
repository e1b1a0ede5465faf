package authproxy

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/apierror"
)

// Answers recorded from Keycloak 26.7.3.
const (
	recordedToken          = `{"token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln","expires_in":300,"issued_at":"2026-11-28T18:19:18Z"}`
	recordedBadCredentials = `{"errors":[{"code":"UNAUTHORIZED","message":"Invalid username or password.","detail":[{"type":"repository","name":"foo/bar","actions":["pull"]}]}]}`
	recordedCacheControl   = "no-store, must-revalidate, max-age=0"
)

const testTimeout = 300 * time.Millisecond

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newProxy serves New(o) with o.UpstreamURL pointed at upstream's docker-v2 path.
func newProxy(t *testing.T, upstream string, o Options) *httptest.Server {
	t.Helper()
	o.UpstreamURL = mustURL(t, upstream+"/realms/demo/protocol/docker-v2/auth")
	if o.KeycloakRealm == "" {
		o.KeycloakRealm = "demo"
	}
	if o.Service == "" {
		o.Service = "registry"
	}
	if o.Timeout == 0 {
		o.Timeout = testTimeout
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// fakeKeycloak serves h; tests use it only to inject answers a real Keycloak
// cannot be made to give on demand.
func fakeKeycloak(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func fakeTokenKeycloak(t *testing.T) *httptest.Server {
	return fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", recordedCacheControl)
		w.Header().Set("Set-Cookie", "KEYCLOAK_SESSION=abc; Path=/")
		io.WriteString(w, recordedToken)
	})
}

func get(t *testing.T, u string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func decodeError(t *testing.T, body []byte) apierror.Entry {
	t.Helper()
	var eb apierror.Body
	if err := json.Unmarshal(body, &eb); err != nil || len(eb.Errors) != 1 {
		t.Fatalf("body %q is not a docker error with one entry: %v", body, err)
	}
	return eb.Errors[0]
}

func TestUpstreamFailures(t *testing.T) {
	tests := []struct {
		name           string
		upstream       func(t *testing.T) string
		wantStatus     int
		wantCode       string
		wantMsg        string
		wantRetryAfter string
		// timeout overrides testTimeout where the answer must not depend
		// on the machine being fast (a refused dial is immediate, but a
		// loaded machine may be slow to make it).
		timeout time.Duration
	}{
		{
			name: "hanging",
			upstream: func(t *testing.T) string {
				return fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }).URL
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: "UNAVAILABLE",
			wantMsg: "keycloak unreachable: no answer within 300ms", wantRetryAfter: retryAfterSeconds,
		},
		{
			name: "connection refused",
			upstream: func(t *testing.T) string {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := l.Addr().String()
				l.Close()
				return "http://" + addr
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: "UNAVAILABLE",
			wantMsg: "keycloak unreachable: connection refused", wantRetryAfter: retryAfterSeconds,
			timeout: 10 * time.Second,
		},
		{
			name: "internal error",
			upstream: func(t *testing.T) string {
				return fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "java.lang.NullPointerException", http.StatusInternalServerError)
				}).URL
			},
			wantStatus: http.StatusBadGateway, wantCode: "UNAVAILABLE",
			wantMsg: "keycloak error: it answered 500 Internal Server Error", wantRetryAfter: retryAfterSeconds,
		},
		{
			name: "unavailable keeps its Retry-After",
			upstream: func(t *testing.T) string {
				return fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "30")
					w.WriteHeader(http.StatusServiceUnavailable)
				}).URL
			},
			wantStatus: http.StatusServiceUnavailable, wantCode: "UNAVAILABLE",
			wantMsg: "keycloak unavailable", wantRetryAfter: "30",
		},
		{
			name: "garbage instead of HTTP",
			upstream: func(t *testing.T) string {
				return fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
					conn, buf, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					defer conn.Close()
					buf.WriteString("this is not HTTP\r\n\r\n")
					buf.Flush()
				}).URL
			},
			wantStatus: http.StatusBadGateway, wantCode: "UNAVAILABLE",
			wantMsg: "keycloak gave no valid HTTP answer", wantRetryAfter: retryAfterSeconds,
		},
		{
			name: "HTML page instead of a token",
			upstream: func(t *testing.T) string {
				return fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					io.WriteString(w, "<html>some other app</html>")
				}).URL
			},
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN", wantMsg: "check the keycloak.url setting",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := cmp.Or(tt.timeout, testTimeout)
			proxy := newProxy(t, tt.upstream(t), Options{Timeout: timeout})
			start := time.Now()
			resp := get(t, proxy.URL+"?service=registry&scope=repository:foo/bar:pull", map[string]string{"Authorization": basic("alice", "pw")})
			body, _ := io.ReadAll(resp.Body)
			// Generous margin: this asserts "bounded by the timeout", not precision.
			if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
				t.Errorf("answered after %s, want within the %s timeout", elapsed, timeout)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			e := decodeError(t, body)
			if e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("error = %+v, want code %s and message containing %q", e, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestMissingCredentials(t *testing.T) {
	// Any call to Keycloak is a failure here: it would answer 400 HTML.
	fakeUnexpectedKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("Keycloak called without Basic credentials: %s", r.URL)
	})
	proxy := newProxy(t, fakeUnexpectedKeycloak.URL, Options{BasicRealm: `My "registry"`})
	tests := []struct {
		name          string
		hdr           map[string]string
		wantChallenge string
	}{
		{"docker client", nil, `Basic realm="My \"registry\""`},
		{"bearer is not basic", map[string]string{"Authorization": "Bearer abc"}, `Basic realm="My \"registry\""`},
		{"empty basic", map[string]string{"Authorization": "Basic "}, `Basic realm="My \"registry\""`},
		{"UI gets no popup", map[string]string{"X-Requested-With": "XMLHttpRequest"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, proxy.URL+"?service=registry", tt.hdr)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", resp.StatusCode)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if !bytes.Contains(body, []byte(`"detail":null`)) {
				t.Errorf("body %s lacks \"detail\":null", body)
			}
			if e := decodeError(t, body); e.Code != "UNAUTHORIZED" || !strings.Contains(e.Message, `realm "demo"`) {
				t.Errorf("error = %+v", e)
			}
		})
	}
}

func TestBadCredentialsPassedThrough(t *testing.T) {
	fakeRejectingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "AUTH_SESSION_ID=x; Path=/")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, recordedBadCredentials)
	})
	proxy := newProxy(t, fakeRejectingKeycloak.URL, Options{})
	for _, tt := range []struct {
		name          string
		ui            bool
		wantChallenge string
	}{
		{"docker client", false, `Basic realm="registry-stack"`},
		{"UI", true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": basic("alice", "wrong")}
			if tt.ui {
				hdr["X-Requested-With"] = "XMLHttpRequest"
			}
			resp := get(t, proxy.URL+"?service=registry&scope=repository:foo/bar:pull", hdr)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || string(body) != recordedBadCredentials {
				t.Errorf("got %d %s, want 401 with Keycloak's body", resp.StatusCode, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if c := resp.Header.Get("Set-Cookie"); c != "" {
				t.Errorf("Keycloak cookie leaked: %q", c)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	proxy := newProxy(t, fakeTokenKeycloak(t).URL, Options{})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch} {
		t.Run(m, func(t *testing.T) {
			req, _ := http.NewRequest(m, proxy.URL+"?service=registry", strings.NewReader("grant_type=password"))
			req.Header.Set("Authorization", basic("alice", "pw"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("status = %d, want 405", resp.StatusCode)
			}
			if got := resp.Header.Get("Allow"); got != "GET, OPTIONS" {
				t.Errorf("Allow = %q", got)
			}
		})
	}
}

func TestForwardsOnlyWhatKeycloakNeeds(t *testing.T) {
	got := make(chan *http.Request, 1)
	fakeRecordingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Clone(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Pragma", "no-cache")
		w.Header().Set("Set-Cookie", "KEYCLOAK_IDENTITY=secret; Path=/")
		io.WriteString(w, recordedToken)
	})
	proxy := newProxy(t, fakeRecordingKeycloak.URL, Options{})
	const query = "account=alice&scope=repository%3Afoo%2Fbar%3Apull&scope=repository:a/b:push,pull&service=registry&offline_token=true&client_id=docker"
	auth := basic("alice", "pw")
	resp := get(t, proxy.URL+"?"+query, map[string]string{
		"Authorization":     auth,
		"Accept":            "application/json",
		"Cookie":            "KEYCLOAK_SESSION=stolen",
		"X-Forwarded-For":   "6.6.6.6",
		"X-Forwarded-Host":  "evil.example",
		"X-Forwarded-Proto": "https",
		"X-Requested-With":  "XMLHttpRequest",
		"Origin":            "https://evil.example",
		"User-Agent":        "docker/27.0 client-marker",
		"X-Custom":          "marker",
	})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != recordedToken {
		t.Fatalf("got %d %s, want 200 with the token", resp.StatusCode, body)
	}

	up := <-got
	// Every parameter arrives, the two scopes joined into the one scope
	// parameter Keycloak reads.
	want := url.Values{"account": {"alice"}, "scope": {"repository:foo/bar:pull repository:a/b:push,pull"},
		"service": {"registry"}, "offline_token": {"true"}, "client_id": {"docker"}}
	if up.URL.Query().Encode() != want.Encode() {
		t.Errorf("upstream query = %q, want %q", up.URL.RawQuery, want.Encode())
	}
	if up.URL.Path != "/realms/demo/protocol/docker-v2/auth" || up.Method != http.MethodGet {
		t.Errorf("upstream request = %s %s", up.Method, up.URL.Path)
	}
	if up.Header.Get("Authorization") != auth || up.Header.Get("Accept") != "application/json" {
		t.Errorf("Authorization/Accept not forwarded: %v", up.Header)
	}
	for _, k := range []string{"Cookie", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Requested-With", "Origin", "X-Custom"} {
		if v := up.Header.Get(k); v != "" {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if strings.Contains(up.Header.Get("User-Agent"), "client-marker") {
		t.Errorf("client User-Agent forwarded")
	}

	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("Keycloak cookie leaked: %q", c)
	}
	if cc, p := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-cache, no-store" || p != "no-cache" {
		t.Errorf("Cache-Control = %q, Pragma = %q; want no-store added and Pragma kept", cc, p)
	}
}

func TestCacheControl(t *testing.T) {
	tests := []struct {
		upstream []string
		want     string
	}{
		{[]string{recordedCacheControl}, recordedCacheControl},
		{nil, "no-store"},
		{[]string{"max-age=60"}, "max-age=60, no-store"},
		{[]string{"private", "NO-STORE"}, "private, NO-STORE"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			fakeCachingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Cache-Control"] = tt.upstream
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, recordedToken)
			})
			proxy := newProxy(t, fakeCachingKeycloak.URL, Options{})
			resp := get(t, proxy.URL+"?service=registry", map[string]string{"Authorization": basic("alice", "pw")})
			if got := resp.Header.Get("Cache-Control"); got != tt.want {
				t.Errorf("Cache-Control = %q, want %q", got, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestStreamsBody(t *testing.T) {
	const first, rest = `{"token":"`, `abc","expires_in":300}`
	release := make(chan struct{})
	fakeSlowStreamingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, first)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, rest)
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	proxy := newProxy(t, fakeSlowStreamingKeycloak.URL, Options{Timeout: 10 * time.Second})

	// The upstream is still blocked, so getting headers and the first chunk
	// proves that the proxy relays as it receives instead of buffering.
	req, _ := http.NewRequest(http.MethodGet, proxy.URL+"?service=registry", nil)
	req.Header.Set("Authorization", basic("alice", "pw"))
	resp := readFirstChunk(t, req, first)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	unblock()
	tail, _ := io.ReadAll(resp.Body)
	if string(tail) != rest {
		t.Errorf("rest = %q, want %q", tail, rest)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := mustURL(t, "http://keycloak:8080/realms/demo/protocol/docker-v2/auth")
	tests := []struct {
		name string
		o    Options
	}{
		{"no upstream", Options{}},
		{"upstream without host", Options{UpstreamURL: mustURL(t, "/realms/demo")}},
		{"upstream with query", Options{UpstreamURL: mustURL(t, "http://keycloak/x?service=a")}},
		{"ftp upstream", Options{UpstreamURL: mustURL(t, "ftp://keycloak/x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.o); err == nil {
				t.Error("New accepted bad options")
			}
		})
	}
	if _, err := New(Options{UpstreamURL: good}); err != nil {
		t.Errorf("New rejected good options: %v", err)
	}
}

func TestLogsNoSecrets(t *testing.T) {
	const password = "hunter2-password"
	fakeRejectingKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, recordedBadCredentials)
	})
	fakeBrokenKeycloak := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"token":"leaked-token-body"}`)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auth := basic("alice", password)
	for _, upstream := range []string{fakeRejectingKeycloak.URL, fakeBrokenKeycloak.URL, closed} {
		proxy := newProxy(t, upstream, Options{Logger: logger})
		resp := get(t, proxy.URL+"?service=registry&password="+password, map[string]string{"Authorization": auth})
		io.Copy(io.Discard, resp.Body)
	}

	out := logs.String()
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("got %d log lines, want one per failure:\n%s", n, out)
	}
	for _, secret := range []string{password, strings.TrimPrefix(auth, "Basic "), "leaked-token-body"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if _, ok := line["status"]; !ok {
			t.Errorf("log line without status: %s", sc.Text())
		}
	}
}

// readFirstChunk sends req and expects the response headers and the first
// len(want) body bytes while the upstream is still blocked, i.e. relayed as
// they arrive rather than buffered. The caller closes the body.
func readFirstChunk(t *testing.T, req *http.Request, want string) *http.Response {
	t.Helper()
	type result struct {
		resp  *http.Response
		chunk string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		buf := make([]byte, len(want))
		n, err := io.ReadFull(resp.Body, buf)
		done <- result{resp: resp, chunk: string(buf[:n]), err: err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("first chunk not relayed while the upstream was still writing")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	t.Cleanup(func() { res.resp.Body.Close() })
	if res.chunk != want {
		t.Fatalf("first chunk = %q, want %q", res.chunk, want)
	}
	return res.resp
}

// What reaches Keycloak: the Basic scheme spelled as Keycloak expects
// whatever case the client used, and every scope in the one scope
// parameter Keycloak reads. (A recording stand-in for Keycloak: the real
// one answers a lowercase scheme with a misleading 400, which is the bug.)
func TestForwardNormalizesSchemeAndScopes(t *testing.T) {
	type seen struct {
		auth   string
		scopes []string
	}
	got := make(chan seen, 1)
	recording := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get("Authorization"), r.URL.Query()["scope"]}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(recordedToken))
	})
	proxy := newProxy(t, recording.URL, Options{})
	cred := base64.StdEncoding.EncodeToString([]byte("alice:pw"))
	for _, tt := range []struct {
		name, scheme string
		scopes       []string
		want         []string
	}{
		{"lowercase scheme, one scope", "basic", []string{"repository:a:pull"}, []string{"repository:a:pull"}},
		{"upper case scheme, two scopes (oras cp)", "BASIC", []string{"repository:a:pull", "repository:b:pull,push"}, []string{"repository:a:pull repository:b:pull,push"}},
		{"no scope", "Basic", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"service": {"registry"}, "scope": tt.scopes}
			req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/?"+q.Encode(), nil)
			req.Header.Set("Authorization", tt.scheme+" "+cred)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := <-got
			if s.auth != "Basic "+cred {
				t.Errorf("Keycloak got Authorization %q, want the Basic scheme", s.auth)
			}
			if !slices.Equal(s.scopes, tt.want) {
				t.Errorf("Keycloak got scopes %q, want %q", s.scopes, tt.want)
			}
		})
	}
}
