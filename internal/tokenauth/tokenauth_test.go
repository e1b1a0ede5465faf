package tokenauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testIssuer   = "https://kc.example.test/realms/dev"
	testTokenURL = testIssuer + "/protocol/docker-v2/auth"
	testService  = "registry"
	otherIssuer  = "https://kc.example.test/realms/other"
)

// staticKeys is a KeySource with a fixed set of keys.
type staticKeys map[string]crypto.PublicKey

func (s staticKeys) Key(_ context.Context, kid string) (crypto.PublicKey, bool) {
	k, ok := s[kid]
	return k, ok
}

type testKeys struct {
	rsa, other *rsa.PrivateKey
	ec         *ecdsa.PrivateKey
}

func generateKeys(t testing.TB) testKeys {
	t.Helper()
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	return k
}

// source knows the dev realm's keys only.
func (k testKeys) source() staticKeys {
	return staticKeys{"rsa": &k.rsa.PublicKey, "ec": &k.ec.PublicKey}
}

// testNow is near the real time so that controllers built through
// distribution's registry, which use the real clock, accept the tokens too.
var testNow = time.Now().Truncate(time.Second)

func newTestController(t *testing.T, o Options) *controller {
	t.Helper()
	ac, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := ac.(*controller)
	c.verifier.now = func() time.Time { return testNow }
	return c
}

type access = []map[string]any

// claims returns a valid claim set for the dev realm granting access.
func claims(acc access) map[string]any {
	return map[string]any{
		"iss":    testIssuer,
		"aud":    testService,
		"sub":    "alice",
		"iat":    testNow.Unix(),
		"nbf":    testNow.Unix(),
		"exp":    testNow.Add(5 * time.Minute).Unix(),
		"jti":    "1",
		"typ":    "Bearer",
		"access": acc,
	}
}

func repo(name string, actions ...string) map[string]any {
	return map[string]any{"type": "repository", "name": name, "actions": actions}
}

func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, cl map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func with(cl map[string]any, k string, v any) map[string]any {
	cl[k] = v
	return cl
}

func without(cl map[string]any, k string) map[string]any {
	delete(cl, k)
	return cl
}

func pushPull(name string) []auth.Access {
	return []auth.Access{
		{Resource: auth.Resource{Type: "repository", Name: name}, Action: "pull"},
		{Resource: auth.Resource{Type: "repository", Name: name}, Action: "push"},
	}
}

var catalog = []auth.Access{{Resource: auth.Resource{Type: "registry", Name: "catalog"}, Action: "*"}}

func TestAuthorized(t *testing.T) {
	keys := generateKeys(t)
	pubDER, err := x509.MarshalPKIXPublicKey(&keys.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/bar", "pull", "push")}))
	goodParts := strings.Split(good, ".")

	tests := []struct {
		name     string
		header   string // Authorization header value
		opts     func(*Options)
		required []auth.Access
		// wantErr is the sentinel the challenge wraps; nil means granted.
		wantErr         error
		wantHeaderError string
	}{
		{
			name:     "valid RS256",
			header:   "Bearer " + good,
			required: pushPull("foo/bar"),
		},
		{
			name:     "valid ES256",
			header:   "Bearer " + sign(t, jose.ES256, keys.ec, "ec", claims(access{repo("foo/bar", "pull")})),
			required: pushPull("foo/bar")[:1],
		},
		{
			name:     "valid PS384",
			header:   "Bearer " + sign(t, jose.PS384, keys.rsa, "rsa", claims(access{repo("foo/bar", "pull")})),
			required: pushPull("foo/bar")[:1],
		},
		{
			name:     "lower-case bearer",
			header:   "bearer " + good,
			required: pushPull("foo/bar"),
		},
		{
			name:     "no access requested",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(nil)),
			required: nil,
		},
		{
			name:            "alg none",
			header:          "Bearer " + b64(t, map[string]string{"alg": "none", "typ": "JWT", "kid": "rsa"}) + "." + goodParts[1] + ".",
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrMalformedToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "HS256 keyed with the RSA public key",
			header:          "Bearer " + sign(t, jose.HS256, pubDER, "rsa", claims(access{repo("foo/bar", "pull", "push")})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrMalformedToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "RS256 not among configured algorithms",
			header:          "Bearer " + good,
			opts:            func(o *Options) { o.Algorithms = []string{"ES256"} },
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrMalformedToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "ES256 header naming an RSA key",
			header:          "Bearer " + sign(t, jose.ES256, keys.ec, "rsa", claims(access{repo("foo/bar", "pull", "push")})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "unknown kid",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "nope", claims(access{repo("foo/bar", "pull", "push")})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "no kid",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "", claims(access{repo("foo/bar", "pull", "push")})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "expired beyond leeway",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "exp", testNow.Add(-token.Leeway-time.Second).Unix())),
			required:        pushPull("foo/bar")[:1],
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:     "expired within leeway",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "exp", testNow.Add(-token.Leeway+time.Second).Unix())),
			required: pushPull("foo/bar")[:1],
		},
		{
			name:            "no exp",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", without(claims(access{repo("foo/bar", "pull")}), "exp")),
			required:        pushPull("foo/bar")[:1],
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "not yet valid beyond leeway",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "nbf", testNow.Add(token.Leeway+time.Second).Unix())),
			required:        pushPull("foo/bar")[:1],
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:     "not yet valid within leeway",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "nbf", testNow.Add(token.Leeway-time.Second).Unix())),
			required: pushPull("foo/bar")[:1],
		},
		{
			name:            "wrong issuer",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "iss", otherIssuer)),
			required:        pushPull("foo/bar")[:1],
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:     "second configured issuer",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "iss", "http://127.0.0.1:8080/realms/dev")),
			opts:     func(o *Options) { o.Issuers = append(o.Issuers, "http://127.0.0.1:8080/realms/dev") },
			required: pushPull("foo/bar")[:1],
		},
		{
			name:            "wrong audience",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "aud", "other-registry")),
			required:        pushPull("foo/bar")[:1],
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:     "audience list containing the service",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "aud", []string{"x", testService})),
			required: pushPull("foo/bar")[:1],
		},
		{
			name:     "configured audience",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", with(claims(access{repo("foo/bar", "pull")}), "aud", "docker")),
			opts:     func(o *Options) { o.Audiences = []string{"docker"} },
			required: pushPull("foo/bar")[:1],
		},
		{
			name:            "service no longer accepted once audiences are set",
			header:          "Bearer " + good,
			opts:            func(o *Options) { o.Audiences = []string{"docker"} },
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name: "tampered payload",
			header: "Bearer " + goodParts[0] + "." +
				b64(t, with(claims(access{repo("foo/bar", "pull", "push")}), "sub", "admin")) + "." + goodParts[2],
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "truncated signature",
			header:          "Bearer " + good[:len(good)-4],
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "garbage token",
			header:          "Bearer not.a.jwt",
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrMalformedToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "another realm's token",
			header:          "Bearer " + sign(t, jose.RS256, keys.other, "other", with(claims(access{repo("foo/bar", "pull", "push")}), "iss", otherIssuer)),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "another realm's key under our kid",
			header:          "Bearer " + sign(t, jose.RS256, keys.other, "rsa", claims(access{repo("foo/bar", "pull", "push")})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInvalidToken,
			wantHeaderError: "invalid_token",
		},
		{
			name:            "access to another repository",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/other", "pull", "push")})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInsufficientScope,
			wantHeaderError: "insufficient_scope",
		},
		{
			name:            "access for another action",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/bar", "pull")})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInsufficientScope,
			wantHeaderError: "insufficient_scope",
		},
		{
			name:            "access with another type",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{{"type": "registry", "name": "foo/bar", "actions": []string{"*"}}})),
			required:        pushPull("foo/bar"),
			wantErr:         token.ErrInsufficientScope,
			wantHeaderError: "insufficient_scope",
		},
		{
			name:     "wildcard action covers push and delete",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/bar", "*")})),
			required: append(pushPull("foo/bar"), auth.Access{Resource: auth.Resource{Type: "repository", Name: "foo/bar"}, Action: "delete"}),
		},
		{
			name:     "access split over two entries",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/bar", "pull"), repo("foo/bar", "push")})),
			required: pushPull("foo/bar"),
		},
		{
			name:     "catalog granted",
			header:   "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{{"type": "registry", "name": "catalog", "actions": []string{"*"}}})),
			required: catalog,
		},
		{
			name:            "catalog needs the wildcard action",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{{"type": "registry", "name": "catalog", "actions": []string{"pull"}}})),
			required:        catalog,
			wantErr:         token.ErrInsufficientScope,
			wantHeaderError: "insufficient_scope",
		},
		{
			name:            "repository wildcard does not grant the catalog",
			header:          "Bearer " + sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/bar", "*")})),
			required:        catalog,
			wantErr:         token.ErrInsufficientScope,
			wantHeaderError: "insufficient_scope",
		},
		{
			name:     "no header",
			required: pushPull("foo/bar"),
			wantErr:  token.ErrTokenRequired,
		},
		{
			name:     "basic credentials",
			header:   "Basic YWxpY2U6cHc=",
			required: pushPull("foo/bar"),
			wantErr:  token.ErrTokenRequired,
		},
		{
			name:     "bearer without token",
			header:   "Bearer ",
			required: pushPull("foo/bar"),
			wantErr:  token.ErrTokenRequired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: keys.source()}
			if tt.opts != nil {
				tt.opts(&o)
			}
			c := newTestController(t, o)
			req := httptest.NewRequest(http.MethodGet, "/v2/foo/bar/manifests/latest", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			grant, err := c.Authorized(req, tt.required...)

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Authorized: %v", err)
				}
				if grant == nil || grant.User.Name != "alice" {
					t.Fatalf("grant = %+v, want user alice", grant)
				}
				return
			}
			if grant != nil {
				t.Fatalf("granted %+v, want refusal", grant)
			}
			t.Logf("refused: %v", err)
			var ch auth.Challenge
			if !errors.As(err, &ch) {
				t.Fatalf("error %v (%T) is not an auth.Challenge", err, err)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %q", err, tt.wantErr)
			}
			if raw := strings.TrimPrefix(tt.header, "Bearer "); len(raw) > 20 && strings.Contains(err.Error(), raw) {
				t.Errorf("error quotes the token: %q", err)
			}
			rec := httptest.NewRecorder()
			ch.SetHeaders(req, rec)
			want := `Bearer realm="` + testTokenURL + `",service="` + testService + `",scope="` + scopeParam(tt.required) + `"`
			if tt.wantHeaderError != "" {
				want += `,error="` + tt.wantHeaderError + `"`
			}
			if got := rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != want {
				t.Errorf("WWW-Authenticate = %q,\nwant %q", got, want)
			}
		})
	}
}

func TestChallengeWithoutHeader(t *testing.T) {
	keys := generateKeys(t)
	c := newTestController(t, Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: keys.source()})
	req := httptest.NewRequest(http.MethodPut, "/v2/foo/bar/manifests/latest", nil)
	required := append(pushPull("foo/bar"), pushPull("alpha/one")[0])
	_, err := c.Authorized(req, required...)
	ch, ok := err.(auth.Challenge)
	if !ok {
		t.Fatalf("error %v (%T) is not an auth.Challenge", err, err)
	}
	if s, ok := err.(interface{ Status() int }); !ok || s.Status() != http.StatusUnauthorized {
		t.Errorf("challenge status is not 401")
	}
	rec := httptest.NewRecorder()
	ch.SetHeaders(req, rec)
	want := `Bearer realm="https://kc.example.test/realms/dev/protocol/docker-v2/auth",service="registry",` +
		`scope="repository:alpha/one:pull repository:foo/bar:pull,push"`
	if got := rec.Header().Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %q,\nwant %q", got, want)
	}

	// The base /v2/ check requests no access: no scope parameter.
	_, err = c.Authorized(httptest.NewRequest(http.MethodGet, "/v2/", nil))
	rec = httptest.NewRecorder()
	err.(auth.Challenge).SetHeaders(req, rec)
	if got, want := rec.Header().Get("WWW-Authenticate"), `Bearer realm="`+testTokenURL+`",service="registry"`; got != want {
		t.Errorf("WWW-Authenticate for /v2/ = %q, want %q", got, want)
	}
}

func TestGrant(t *testing.T) {
	keys := generateKeys(t)
	c := newTestController(t, Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: keys.source()})
	raw := sign(t, jose.ES256, keys.ec, "ec", with(claims(access{
		repo("foo/bar", "pull"),
		repo("foo/bar", "push"),
		{"type": "repository", "class": "plugin", "name": "foo/plug", "actions": []string{"pull"}},
	}), "sub", "bob"))
	req := httptest.NewRequest(http.MethodGet, "/v2/foo/bar/tags/list", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	grant, err := c.Authorized(req, pushPull("foo/bar")[0])
	if err != nil {
		t.Fatal(err)
	}
	if grant.User.Name != "bob" {
		t.Errorf("user = %q, want bob (the sub claim)", grant.User.Name)
	}
	want := []auth.Resource{
		{Type: "repository", Name: "foo/bar"},
		{Type: "repository", Class: "plugin", Name: "foo/plug"},
	}
	if !slices.Equal(grant.Resources, want) {
		t.Errorf("resources = %+v, want %+v", grant.Resources, want)
	}
}

// ctxKeys records the context Key was called with.
type ctxKeys struct {
	staticKeys
	got context.Context
}

func (k *ctxKeys) Key(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	k.got = ctx
	return k.staticKeys.Key(ctx, kid)
}

func TestKeyLookupUsesRequestContext(t *testing.T) {
	keys := generateKeys(t)
	src := &ctxKeys{staticKeys: keys.source()}
	c := newTestController(t, Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: src})
	type ctxKey struct{}
	req := httptest.NewRequest(http.MethodGet, "/v2/", nil)
	req = req.WithContext(context.WithValue(req.Context(), ctxKey{}, "request"))
	req.Header.Set("Authorization", "Bearer "+sign(t, jose.RS256, keys.rsa, "rsa", claims(nil)))
	if _, err := c.Authorized(req); err != nil {
		t.Fatal(err)
	}
	if src.got == nil || src.got.Value(ctxKey{}) != "request" {
		t.Error("KeySource was not called with the request's context")
	}
}

func TestNew(t *testing.T) {
	valid := func() Options {
		return Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: staticKeys{}}
	}
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{name: "valid", mutate: func(*Options) {}},
		{name: "explicit algorithms", mutate: func(o *Options) { o.Algorithms = []string{"RS256", "ES384", "PS512"} }},
		{name: "no token URL", mutate: func(o *Options) { o.TokenURL = "" }, wantErr: "token URL"},
		{name: "relative token URL", mutate: func(o *Options) { o.TokenURL = "/auth/token" }, wantErr: "token URL"},
		{name: "no service", mutate: func(o *Options) { o.Service = "" }, wantErr: "service"},
		{name: "no issuers", mutate: func(o *Options) { o.Issuers = nil }, wantErr: "issuers"},
		{name: "empty issuer", mutate: func(o *Options) { o.Issuers = []string{testIssuer, ""} }, wantErr: "issuers"},
		{name: "empty audience", mutate: func(o *Options) { o.Audiences = []string{""} }, wantErr: "audiences"},
		{name: "no key source", mutate: func(o *Options) { o.Keys = nil }, wantErr: "key source"},
		{name: "HS256", mutate: func(o *Options) { o.Algorithms = []string{"RS256", "HS256"} }, wantErr: `"HS256"`},
		{name: "none", mutate: func(o *Options) { o.Algorithms = []string{"none"} }, wantErr: `"none"`},
		{name: "EdDSA", mutate: func(o *Options) { o.Algorithms = []string{"EdDSA"} }, wantErr: `"EdDSA"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.mutate(&o)
			ac, err := New(o)
			if tt.wantErr == "" {
				if err != nil || ac == nil {
					t.Fatalf("New = %v, %v", ac, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c := newTestController(t, Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: staticKeys{}})
	if !slices.Equal(c.audiences, []string{testService}) {
		t.Errorf("default audiences = %q, want [%q]", c.audiences, testService)
	}
	for _, alg := range c.verifier.algorithms {
		if strings.HasPrefix(string(alg), "HS") || alg == "none" {
			t.Errorf("default algorithms include %s", alg)
		}
	}
	if len(c.verifier.algorithms) != 9 {
		t.Errorf("default algorithms = %v, want the 9 RSA, RSA-PSS and ECDSA ones", c.verifier.algorithms)
	}
}

func TestRegisteredWithDistribution(t *testing.T) {
	keys := generateKeys(t)
	o := Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: keys.source()}
	for _, params := range []map[string]any{{OptionsKey: o}, {OptionsKey: &o}} {
		ac, err := auth.GetAccessController(Name, params)
		if err != nil {
			t.Fatalf("GetAccessController(%q, %T): %v", Name, params[OptionsKey], err)
		}
		req := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		req.Header.Set("Authorization", "Bearer "+sign(t, jose.RS256, keys.rsa, "rsa", claims(nil)))
		if _, err := ac.Authorized(req); err != nil {
			t.Errorf("controller from registry refused a valid token: %v", err)
		}
	}
	for _, params := range []map[string]any{nil, {}, {OptionsKey: "yaml string"}, {OptionsKey: (*Options)(nil)}, {OptionsKey: Options{}}} {
		if _, err := auth.GetAccessController(Name, params); err == nil {
			t.Errorf("GetAccessController accepted parameters %#v", params)
		}
	}
}

// mutableIssuers is an IssuerSource whose answer the test changes, like an
// issuer discovered from Keycloak after start-up.
type mutableIssuers struct {
	mu   sync.Mutex
	list []string
}

func (m *mutableIssuers) Issuers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list
}

func (m *mutableIssuers) set(l ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = l
}

func TestIssuerSource(t *testing.T) {
	keys := generateKeys(t)
	src := &mutableIssuers{}
	c := newTestController(t, Options{TokenURL: testTokenURL, Service: testService, IssuerSource: src, Keys: keys.source()})
	tok := sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/bar", "pull")}))
	try := func() error {
		req := httptest.NewRequest(http.MethodGet, "/v2/foo/bar/tags/list", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		_, err := c.Authorized(req, pushPull("foo/bar")[:1]...)
		return err
	}
	if err := try(); !errors.Is(err, token.ErrInvalidToken) {
		t.Fatalf("before the issuer is known: err = %v, want ErrInvalidToken", err)
	}
	src.set(otherIssuer)
	if err := try(); !errors.Is(err, token.ErrInvalidToken) {
		t.Fatalf("with only another issuer known: err = %v, want ErrInvalidToken", err)
	}
	src.set(otherIssuer, testIssuer)
	if err := try(); err != nil {
		t.Fatalf("once the issuer is known: %v", err)
	}
	if _, err := New(Options{TokenURL: testTokenURL, Service: testService, Keys: keys.source()}); err == nil {
		t.Error("New without Issuers or IssuerSource: no error")
	}
}
