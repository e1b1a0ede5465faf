package tokenserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"

	"github.com/registry-stack/registry-stack/internal/identity"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/signing"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
)

// stubAuthenticator stands in for Keycloak in these unit tests of the
// endpoint's own logic (forms, scopes, grants, answers); the real
// authentication is tested against a real Keycloak in cmd/registry-stack.
type stubAuthenticator struct{}

var (
	alice = policy.Subject{User: "alice", Groups: []string{"/team-a"}}
	bob   = policy.Subject{User: "bob", Groups: []string{"/team-b"}}
)

func (stubAuthenticator) Password(_ context.Context, user, password, _ string) (*identity.Identity, error) {
	switch user + ":" + password {
	case "alice:alice-password":
		return &identity.Identity{Subject: alice, Kind: identity.KindUser, RefreshToken: "refresh-alice"}, nil
	case "bob:bob-password":
		return &identity.Identity{Subject: bob, Kind: identity.KindUser}, nil
	}
	return nil, &identity.Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "invalid user name or password"}
}

func (stubAuthenticator) Bearer(context.Context, string, string) (*identity.Identity, error) {
	return nil, &identity.Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "the access token is not valid for this registry"}
}

func (a stubAuthenticator) Refresh(ctx context.Context, rt, addr string) (*identity.Identity, error) {
	if rt == "refresh-alice" {
		return a.Password(ctx, "alice", "alice-password", addr)
	}
	return nil, &identity.Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "the refresh token is no longer valid: log in again"}
}

const (
	testIssuer  = "https://registry.example.com"
	testService = "registry-stack"
)

func newServer(t *testing.T) (*httptest.Server, *signing.Set) {
	t.Helper()
	h, set, _ := newHandler(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, set
}

// newHandler is the endpoint with a real key set and policy.
func newHandler(t testing.TB) (http.Handler, *signing.Set, *policy.Policy) {
	t.Helper()
	key, err := signing.Generate()
	if err != nil {
		t.Fatal(err)
	}
	set, err := signing.NewSet(key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(policy.Config{
		Repositories: map[string][]policy.Grant{
			"team-a/**": {{Who: []string{"group:/team-a"}, Actions: []string{"pull", "push", "delete"}}},
			"public/**": {{Who: []string{"anonymous", "authenticated"}, Actions: []string{"pull"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Issuer: testIssuer, Service: testService, TTL: 5 * time.Minute, Signer: set, Auth: stubAuthenticator{}, Policy: policy.NewLive(p)})
	if err != nil {
		t.Fatal(err)
	}
	return h, set, p
}

type tokenAnswer struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// access verifies tok as the registry would and returns its access claim.
func access(t *testing.T, set *signing.Set, tok string) ([]string, Claims) {
	t.Helper()
	v, err := tokenauth.NewVerifier(tokenauth.VerifierOptions{Keys: set, Issuers: []string{testIssuer}})
	if err != nil {
		t.Fatal(err)
	}
	var c Claims
	if err := v.Verify(context.Background(), tok, &c); err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if !slices.Equal(c.Audience, token.AudienceList{testService}) {
		t.Errorf("aud = %v", c.Audience)
	}
	var out []string
	for _, ra := range c.Access {
		out = append(out, ra.Type+":"+ra.Name+":"+strings.Join(ra.Actions, ","))
	}
	return out, c
}

func TestGrantsTheIntersectionOfEveryScope(t *testing.T) {
	srv, set := newServer(t)
	tests := []struct {
		name       string
		user, pass string // empty: anonymous
		scopes     []string
		want       []string
	}{
		{"two scopes in two parameters, both granted (cross-repository mount)", "alice", "alice-password",
			[]string{"repository:team-a/app:pull,push", "repository:team-a/base:pull"},
			[]string{"repository:team-a/app:pull,push", "repository:team-a/base:pull"}},
		{"two scopes in one parameter", "alice", "alice-password",
			[]string{"repository:team-a/app:pull repository:public/x:pull"},
			[]string{"repository:team-a/app:pull", "repository:public/x:pull"}},
		{"partial grant is not an error", "alice", "alice-password",
			[]string{"repository:public/x:pull,push"}, []string{"repository:public/x:pull"}},
		{"nothing granted elsewhere", "bob", "bob-password",
			[]string{"repository:team-a/app:pull"}, nil},
		{"anonymous pull of a public repository", "", "",
			[]string{"repository:public/x:pull,push", "repository:team-a/app:pull"}, []string{"repository:public/x:pull"}},
		{"malformed scope dropped, the good one kept", "alice", "alice-password",
			[]string{"repository:team-a/app", "repository:team-a/app:pull"}, []string{"repository:team-a/app:pull"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"service": {testService}, "scope": tt.scopes}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"?"+q.Encode(), nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			var ans tokenAnswer
			if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
				t.Fatal(err)
			}
			if ans.Token == "" || ans.Token != ans.AccessToken || ans.ExpiresIn != 300 {
				t.Errorf("answer = %+v", ans)
			}
			got, c := access(t, set, ans.Token)
			if !slices.Equal(got, tt.want) {
				t.Errorf("access = %v, want %v", got, tt.want)
			}
			if tt.user == "" && (c.Subject != "anonymous" || c.Identity == nil || !c.Identity.Anonymous) {
				t.Errorf("anonymous token: sub %q identity %+v", c.Subject, c.Identity)
			}
		})
	}
}

func TestOAuthForm(t *testing.T) {
	srv, set := newServer(t)
	post := func(form url.Values) (*http.Response, tokenAnswer) {
		t.Helper()
		resp, err := http.PostForm(srv.URL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans tokenAnswer
		_ = json.NewDecoder(resp.Body).Decode(&ans)
		return resp, ans
	}
	resp, ans := post(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"},
		"service": {testService}, "scope": {"repository:team-a/app:pull,push"}, "client_id": {"containerd"}, "access_type": {"offline"}})
	if resp.StatusCode != http.StatusOK || ans.RefreshToken != "refresh-alice" || ans.Scope != "repository:team-a/app:pull,push" {
		t.Fatalf("password grant: %d %+v", resp.StatusCode, ans)
	}
	if got, _ := access(t, set, ans.AccessToken); !slices.Equal(got, []string{"repository:team-a/app:pull,push"}) {
		t.Errorf("access = %v", got)
	}
	resp, ans = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.RefreshToken}, "service": {testService}, "scope": {"repository:team-a/app:pull"}})
	if resp.StatusCode != http.StatusOK || ans.AccessToken == "" {
		t.Fatalf("refresh grant: %d %+v", resp.StatusCode, ans)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"nope"}}, http.StatusUnauthorized},
		{"stale refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"old"}}, http.StatusUnauthorized},
		{"no grant type", url.Values{"username": {"alice"}}, http.StatusBadRequest},
		{"unknown grant type", url.Values{"grant_type": {"authorization_code"}}, http.StatusBadRequest},
		{"another service", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "service": {"other"}}, http.StatusBadRequest},
	} {
		if resp, _ := post(tc.form); resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

func TestFailures(t *testing.T) {
	srv, _ := newServer(t)
	do := func(method string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"?service="+testService, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:wrong"))
	if r := do(http.MethodGet, map[string]string{"Authorization": basic}); r.StatusCode != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("wrong password: %d %q, want 401 with a Basic challenge", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := do(http.MethodGet, map[string]string{"Authorization": basic, "X-Requested-With": "XMLHttpRequest"}); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("wrong password from the UI: %d %q, want 401 without a challenge", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := do(http.MethodGet, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(":"))}); r.StatusCode != 200 {
		t.Errorf("empty Basic credentials: %d, want 200 (anonymous)", r.StatusCode)
	}
	if r := do(http.MethodGet, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(":secret"))}); r.StatusCode != 400 {
		t.Errorf("a password without a user: %d, want 400", r.StatusCode)
	}
	if r := do(http.MethodGet, map[string]string{"Authorization": "Basic !!!"}); r.StatusCode != 400 {
		t.Errorf("malformed Basic: %d, want 400", r.StatusCode)
	}
	if r := do(http.MethodGet, map[string]string{"Authorization": "Digest x"}); r.StatusCode != 400 {
		t.Errorf("unknown scheme: %d, want 400", r.StatusCode)
	}
	if r := do(http.MethodDelete, nil); r.StatusCode != 405 || r.Header.Get("Allow") == "" {
		t.Errorf("DELETE: %d, want 405 with Allow", r.StatusCode)
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		trust bool
		xff   []string
		want  string
	}{
		{false, []string{"1.2.3.4"}, "192.0.2.1"},
		{true, nil, "192.0.2.1"},
		// The proxy appends the peer: the first entries are the client's own.
		{true, []string{"6.6.6.6, 10.0.0.7"}, "10.0.0.7"},
		{true, []string{"6.6.6.6", "10.0.0.7"}, "10.0.0.7"},
		{true, []string{"not-an-address"}, "192.0.2.1"},
		{true, []string{"2001:db8::1"}, "2001:db8::1"},
	}
	for _, tt := range tests {
		h := &handler{o: Options{TrustForwardedHeaders: tt.trust}}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:4321"
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := h.clientAddr(r); got != tt.want {
			t.Errorf("trust=%v X-Forwarded-For %q: %q, want %q", tt.trust, tt.xff, got, tt.want)
		}
	}
}

// docker login sends offline_token=true; a refresh token in the answer
// would replace its password with something that expires with the SSO
// session, so GET never returns one.
func TestGETNeverReturnsARefreshToken(t *testing.T) {
	srv, _ := newServer(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"?service="+testService+"&offline_token=true&client_id=docker", nil)
	req.SetBasicAuth("alice", "alice-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans tokenAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 || ans.RefreshToken != "" {
		t.Fatalf("GET with offline_token: %d %+v %v, want a token and no refresh token", resp.StatusCode, ans, err)
	}
}
