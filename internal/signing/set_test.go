package signing

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/tokenauth"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The Set is what tokenauth asks for keys.
var _ tokenauth.KeySource = (*Set)(nil)

const (
	testIssuer  = "registry-stack"
	testService = "registry"
)

// testClaims is a token for alice to pull alice/app, valid for five minutes.
func testClaims() token.ClaimSet {
	now := time.Now()
	return token.ClaimSet{
		Issuer:     testIssuer,
		Subject:    "alice",
		Audience:   token.AudienceList{testService},
		Expiration: now.Add(5 * time.Minute).Unix(),
		NotBefore:  now.Unix(),
		IssuedAt:   now.Unix(),
		JWTID:      "jti-1",
		Access:     []*token.ResourceActions{{Type: "repository", Name: "alice/app", Actions: []string{"pull"}}},
	}
}

// verify checks raw the way a verifier does: it trusts only the header's
// kid, looks the key up in keys and checks the signature with it.
func verify(t testing.TB, keys tokenauth.KeySource, raw string) (jose.Header, token.ClaimSet) {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256})
	if err != nil {
		t.Fatalf("parsing token: %v", err)
	}
	if len(tok.Headers) != 1 {
		t.Fatalf("%d signatures, want 1", len(tok.Headers))
	}
	h := tok.Headers[0]
	pub, ok := keys.Key(context.Background(), h.KeyID)
	if !ok {
		t.Fatalf("no key for the header's kid %q", h.KeyID)
	}
	var cl token.ClaimSet
	if err := tok.Claims(pub, &cl); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	return h, cl
}

func TestSignVerifies(t *testing.T) {
	tests := []struct {
		name string
		priv crypto.Signer
		alg  string
	}{
		{"ES256", mustEC(elliptic.P256()), "ES256"},
		{"ES384", mustEC(elliptic.P384()), "ES384"},
		{"ES512", mustEC(elliptic.P521()), "ES512"},
		{"RS256", rsa2048(), "RS256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKey(t, tt.priv)
			s := mustSet(t, k)
			want := testClaims()
			raw, err := s.Sign(want)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if strings.Count(raw, ".") != 2 {
				t.Fatalf("token %q is not a compact JWS", raw)
			}
			h, got := verify(t, s, raw)
			if h.Algorithm != tt.alg || h.KeyID != k.KeyID() || h.ExtraHeaders[jose.HeaderType] != "JWT" {
				t.Errorf("header alg %q kid %q typ %v, want %s %s JWT", h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType], tt.alg, k.KeyID())
			}
			// Exactly these members: only the kid may point at the key, an
			// embedded key or certificate would invite verifiers to trust
			// it.
			if got := headerMembers(t, raw); !slices.Equal(got, []string{"alg", "kid", "typ"}) {
				t.Errorf("header members %q, want alg, kid, typ", got)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("claims\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestSignRefusesNonObjectClaims(t *testing.T) {
	s := mustSet(t, mustKey(t, mustEC(elliptic.P256())))
	tests := []struct {
		name   string
		claims any
		want   string
	}{
		{"nil", nil, "do not encode as a JSON object"},
		{"string", "alice", "do not encode as a JSON object"},
		{"array", []string{"a"}, "do not encode as a JSON object"},
		{"unencodable", map[string]any{"c": make(chan int)}, "encoding claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := s.Sign(tt.claims)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign = %q, %v; want an error saying %q", raw, err, tt.want)
			}
		})
	}
	// A map is as good as a struct.
	raw, err := s.Sign(map[string]any{"sub": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, cl := verify(t, s, raw); cl.Subject != "alice" {
		t.Errorf("subject %q, want alice", cl.Subject)
	}
}

// headerMembers returns the sorted member names of raw's JOSE header.
func headerMembers(t *testing.T, raw string) []string {
	t.Helper()
	enc, _, _ := strings.Cut(raw, ".")
	js, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(js, &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	return slices.Sorted(maps.Keys(h))
}

// TestTokenauthAcceptsSignedTokens runs signed tokens through the access
// controller that verifies them in the registry.
func TestTokenauthAcceptsSignedTokens(t *testing.T) {
	for _, priv := range []crypto.Signer{mustEC(elliptic.P256()), rsa2048()} {
		s := mustSet(t, mustKey(t, priv))
		t.Run(s.Active().Algorithm(), func(t *testing.T) {
			ac, err := tokenauth.New(tokenauth.Options{
				TokenURL: "https://registry.example.test/token",
				Service:  testService,
				Issuers:  []string{testIssuer},
				Keys:     s,
			})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := s.Sign(testClaims())
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/v2/alice/app/manifests/latest", nil)
			req.Header.Set("Authorization", "Bearer "+raw)
			pull := auth.Access{Resource: auth.Resource{Type: "repository", Name: "alice/app"}, Action: "pull"}
			grant, err := ac.Authorized(req, pull)
			if err != nil {
				t.Fatalf("Authorized: %v", err)
			}
			if grant.User.Name != "alice" {
				t.Errorf("granted to %q, want alice", grant.User.Name)
			}
			push := auth.Access{Resource: pull.Resource, Action: "push"}
			if _, err := ac.Authorized(req, push); err == nil {
				t.Error("a pull token was accepted for push")
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey := mustKey(t, mustEC(elliptic.P256()))
	newKey := mustKey(t, mustEC(elliptic.P256()))
	before := mustSet(t, oldKey)
	oldToken, err := before.Sign(testClaims())
	if err != nil {
		t.Fatal(err)
	}

	// Rotated: the new key signs, the old one still verifies.
	after := mustSet(t, newKey, oldKey)
	if h, _ := verify(t, after, oldToken); h.KeyID != oldKey.KeyID() {
		t.Errorf("old token names kid %s, want %s", h.KeyID, oldKey.KeyID())
	}
	newToken, err := after.Sign(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := verify(t, after, newToken); h.KeyID != newKey.KeyID() {
		t.Errorf("new token names kid %s, want the new key %s", h.KeyID, newKey.KeyID())
	}

	// Retired: once the old key is dropped its tokens find no key.
	retired := mustSet(t, newKey)
	if _, ok := retired.Key(context.Background(), oldKey.KeyID()); ok {
		t.Error("a dropped key still verifies")
	}
	// The set before rotation does not know the new key.
	if _, ok := before.Key(context.Background(), newKey.KeyID()); ok {
		t.Error("the old set knows the new key")
	}
}

func TestSetKey(t *testing.T) {
	active := mustKey(t, mustEC(elliptic.P256()))
	prev := mustKey(t, rsa2048())
	s := mustSet(t, active, prev)
	tests := []struct {
		kid  string
		want crypto.PublicKey
	}{
		{active.KeyID(), active.Public()},
		{prev.KeyID(), prev.Public()},
		{"", nil},
		{"unknown", nil},
		// kids are exact: no case folding, no prefix match.
		{strings.ToLower(active.KeyID()), nil},
		{active.KeyID()[:10], nil},
	}
	for _, tt := range tests {
		got, ok := s.Key(context.Background(), tt.kid)
		if ok != (tt.want != nil) {
			t.Errorf("Key(%q) found %v, want %v", tt.kid, ok, tt.want != nil)
			continue
		}
		if ok && !samePublic(got, tt.want) {
			t.Errorf("Key(%q) returned another key", tt.kid)
		}
	}
	if s.Active() != active {
		t.Error("Active is not the active key")
	}
}

func TestNewSetErrors(t *testing.T) {
	a := mustKey(t, mustEC(elliptic.P256()))
	b := mustKey(t, mustEC(elliptic.P256()))
	// The same key loaded twice is a different *Key with the same kid.
	aAgain := mustKey(t, a.priv)
	tests := []struct {
		name     string
		active   *Key
		previous []*Key
		want     string
	}{
		{"no active key", nil, nil, "no active key"},
		{"nil previous key", a, []*Key{b, nil}, "previous key 2 of 2 is nil"},
		{"active among previous", a, []*Key{b, aAgain}, a.KeyID() + " is configured twice"},
		{"previous repeated", a, []*Key{b, b}, b.KeyID() + " is configured twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSet(tt.active, tt.previous...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSet error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	active := mustKey(t, mustEC(elliptic.P256()))
	prevRSA := mustKey(t, rsa2048())
	prevEC := mustKey(t, mustEC(elliptic.P384()))
	s := mustSet(t, active, prevRSA, prevEC)
	raw, err := s.JWKS()
	if err != nil {
		t.Fatal(err)
	}

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, raw)
	}
	want := []*Key{active, prevRSA, prevEC} // active first
	if len(set.Keys) != len(want) {
		t.Fatalf("JWKS has %d keys, want %d:\n%s", len(set.Keys), len(want), raw)
	}
	for i, jwk := range set.Keys {
		k := want[i]
		if !jwk.IsPublic() || !jwk.Valid() {
			t.Errorf("key %d: public %v valid %v, want a valid public key", i, jwk.IsPublic(), jwk.Valid())
		}
		if jwk.KeyID != k.KeyID() || jwk.Algorithm != k.Algorithm() || jwk.Use != "sig" {
			t.Errorf("key %d: kid %q alg %q use %q, want %s %s sig", i, jwk.KeyID, jwk.Algorithm, jwk.Use, k.KeyID(), k.Algorithm())
		}
		if !samePublic(jwk.Key, k.Public()) {
			t.Errorf("key %d is not %s's public key", i, k.KeyID())
		}
		// A verifier computing the thumbprint itself gets the kid.
		if tp, err := thumbprint(jwk.Key); err != nil || tp != jwk.KeyID {
			t.Errorf("key %d: thumbprint %s (%v), kid %s", i, tp, err, jwk.KeyID)
		}
	}

	// Beyond what go-jose reads back: no private member in the raw JSON.
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	wantMembers := map[string][]string{
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
	}
	for i, m := range doc.Keys {
		members := slices.Sorted(maps.Keys(m))
		if want := wantMembers[m["kty"].(string)]; !slices.Equal(members, want) {
			t.Errorf("key %d has members %q, want %q", i, members, want)
		}
	}

	// Callers get their own copy.
	raw[0] = 'X'
	if again, _ := s.JWKS(); again[0] != '{' {
		t.Error("changing JWKS's result changed the Set")
	}
}

func TestJWKSHandler(t *testing.T) {
	s := mustSet(t, mustKey(t, mustEC(elliptic.P256())))
	jwks, _ := s.JWKS()
	srv := httptest.NewServer(s.JWKSHandler())
	defer srv.Close()
	tests := []struct {
		method string
		status int
		body   string
	}{
		{http.MethodGet, http.StatusOK, string(jwks)},
		{http.MethodHead, http.StatusOK, ""},
		{http.MethodPost, http.StatusMethodNotAllowed, "method not allowed\n"},
		{http.MethodPut, http.StatusMethodNotAllowed, "method not allowed\n"},
		{http.MethodDelete, http.StatusMethodNotAllowed, "method not allowed\n"},
		{http.MethodOptions, http.StatusMethodNotAllowed, "method not allowed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("%s = %d %q, want %d %q", tt.method, resp.StatusCode, body, tt.status, tt.body)
			}
			h := resp.Header
			if tt.status == http.StatusOK {
				if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "public, max-age=300" {
					t.Errorf("Content-Type %q, Cache-Control %q", h.Get("Content-Type"), h.Get("Cache-Control"))
				}
				// HEAD announces the length GET sends.
				if resp.ContentLength != int64(len(jwks)) {
					t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(jwks))
				}
			} else if h.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", h.Get("Allow"))
			}
		})
	}
}

// TestConcurrentUse signs, looks up and verifies from many goroutines at
// once; run with -race.
func TestConcurrentUse(t *testing.T) {
	s := mustSet(t, mustKey(t, mustEC(elliptic.P256())), mustKey(t, mustEC(elliptic.P256())))
	handler := s.JWKSHandler()
	const goroutines, rounds = 32, 20
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				cl := testClaims()
				cl.Subject = strings.Repeat("u", g+1)
				raw, err := s.Sign(cl)
				if err != nil {
					t.Errorf("Sign: %v", err)
					return
				}
				h, got := verify(t, s, raw)
				if h.KeyID != s.Active().KeyID() || got.Subject != cl.Subject {
					t.Errorf("goroutine %d round %d: kid %s subject %q", g, i, h.KeyID, got.Subject)
				}
				if _, err := s.JWKS(); err != nil {
					t.Errorf("JWKS: %v", err)
				}
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/jwks", nil))
				if w.Code != http.StatusOK {
					t.Errorf("JWKS handler: %d", w.Code)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSign(b *testing.B) {
	s := mustSet(b, mustKey(b, mustEC(elliptic.P256())))
	cl := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(cl); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures what the registry does per request: parse, look
// the kid up, check the ES256 signature and decode the claims.
func BenchmarkVerify(b *testing.B) {
	s := mustSet(b, mustKey(b, mustEC(elliptic.P256())))
	raw, err := s.Sign(testClaims())
	if err != nil {
		b.Fatal(err)
	}
	algs := []jose.SignatureAlgorithm{jose.ES256}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tok, err := jwt.ParseSigned(raw, algs)
		if err != nil {
			b.Fatal(err)
		}
		pub, ok := s.Key(ctx, tok.Headers[0].KeyID)
		if !ok {
			b.Fatal("no key")
		}
		var cl token.ClaimSet
		if err := tok.Claims(pub, &cl); err != nil {
			b.Fatal(err)
		}
	}
}
