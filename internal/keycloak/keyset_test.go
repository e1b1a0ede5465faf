package keycloak

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakeJWKSServer serves a realm's JWKS and can be told to fail in the ways a
// real Keycloak does: error statuses, garbage bodies and hanging responses.
type fakeJWKSServer struct {
	srv      *httptest.Server
	requests atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	hang   bool
}

func newFakeJWKSServer(t *testing.T) *fakeJWKSServer {
	t.Helper()
	f := &fakeJWKSServer{status: http.StatusOK, body: []byte(`{"keys":[]}`)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeJWKSServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/realms/test/protocol/openid-connect/certs" {
		http.NotFound(w, r)
		return
	}
	f.requests.Add(1)
	f.mu.Lock()
	status, body, hang := f.status, f.body, f.hang
	f.mu.Unlock()
	if hang {
		// Held until the client gives up.
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (f *fakeJWKSServer) realm(t *testing.T) Realm {
	t.Helper()
	r, err := ParseRealm(f.srv.URL, "test")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serveKeys makes the server answer with a JWKS holding keys.
func (f *fakeJWKSServer) serveKeys(t *testing.T, keys ...jose.JSONWebKey) {
	t.Helper()
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	f.serveRaw(http.StatusOK, string(body))
}

func (f *fakeJWKSServer) serveRaw(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body, f.hang = status, []byte(body), false
}

func (f *fakeJWKSServer) hangForever() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = true
}

// fakeClock is a settable time source for rate limit tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testKey struct {
	jwk        jose.JSONWebKey
	libtrustID string
}

func newRSAKey(t testing.TB, kid string) testKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return newTestKey(t, kid, &priv.PublicKey, "RS256")
}

func newECKey(t testing.TB, kid string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestKey(t, kid, &priv.PublicKey, "ES256")
}

func newTestKey(t testing.TB, kid string, pub crypto.PublicKey, alg string) testKey {
	t.Helper()
	lt, err := LibtrustKeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{jwk: jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}, libtrustID: lt}
}

const testGap = 10 * time.Second

func newTestKeySet(t *testing.T, f *fakeJWKSServer, clock *fakeClock) *KeySet {
	t.Helper()
	return NewKeySet(KeySetOptions{
		Client:        &http.Client{Timeout: 2 * time.Second}, // hangs end here; far above loopback latency under load
		Realm:         f.realm(t),
		MinRefreshGap: testGap,
		Now:           clock.Now,
	})
}

func sameKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

func TestKeySetNotReadyUntilFirstLoad(t *testing.T) {
	f := newFakeJWKSServer(t)
	a := newRSAKey(t, "a")
	f.serveRaw(http.StatusServiceUnavailable, "booting")
	ks := newTestKeySet(t, f, newFakeClock())

	if ks.Ready() {
		t.Fatal("Ready before any refresh")
	}
	if ks.LastError() == nil {
		t.Error("LastError is nil before any refresh")
	}
	if err := ks.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded against a 503")
	}
	if ks.Ready() {
		t.Fatal("Ready after a failed first refresh")
	}
	if _, ok := ks.Key(context.Background(), "a"); ok {
		t.Fatal("Key found a key before any load")
	}

	f.serveKeys(t, a.jwk)
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !ks.Ready() {
		t.Error("not Ready after a successful refresh")
	}
	if err := ks.LastError(); err != nil {
		t.Errorf("LastError after success = %v", err)
	}
}

func TestKeySetSelectsAndIndexesKeys(t *testing.T) {
	f := newFakeJWKSServer(t)
	rsaKey := newRSAKey(t, "rsa-sig")
	ecKey := newECKey(t, "ec-sig")
	noUse := newECKey(t, "ec-no-use")
	noUse.jwk.Use = ""
	encKey := newRSAKey(t, "rsa-enc")
	encKey.jwk.Use, encKey.jwk.Algorithm = "enc", "RSA-OAEP"
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallKey := newTestKey(t, "rsa-small", &small.PublicKey, "RS256")

	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaKey.jwk, ecKey.jwk, noUse.jwk, encKey.jwk, smallKey.jwk}})
	if err != nil {
		t.Fatal(err)
	}
	// Keys go-jose cannot parse must not spoil the whole set.
	var doc struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(set, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Keys = append(doc.Keys,
		json.RawMessage(`{"kty":"weird","kid":"weird"}`),
		json.RawMessage(`{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}`))
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	f.serveRaw(http.StatusOK, string(body))

	ks := newTestKeySet(t, f, newFakeClock())
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	tests := []struct {
		name string
		kid  string
		want crypto.PublicKey // nil: must not be found
	}{
		{"RSA by JWKS kid", "rsa-sig", rsaKey.jwk.Key},
		{"RSA by libtrust kid", rsaKey.libtrustID, rsaKey.jwk.Key},
		{"EC by JWKS kid", "ec-sig", ecKey.jwk.Key},
		{"EC by libtrust kid", ecKey.libtrustID, ecKey.jwk.Key},
		{"key without use", "ec-no-use", noUse.jwk.Key},
		{"encryption key", "rsa-enc", nil},
		{"encryption key by libtrust kid", encKey.libtrustID, nil},
		{"small RSA key", "rsa-small", nil},
		{"unknown kty", "weird", nil},
		{"symmetric key", "hmac", nil},
		{"empty kid", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ks.Key(context.Background(), tt.kid)
			if tt.want == nil {
				if ok {
					t.Fatalf("Key(%q) found %T, want none", tt.kid, got)
				}
				return
			}
			if !ok || !sameKey(tt.want, got) {
				t.Fatalf("Key(%q) = %v, %v; want the published key", tt.kid, got, ok)
			}
		})
	}
}

func TestKeySetPicksUpRotationOnUnknownKid(t *testing.T) {
	f := newFakeJWKSServer(t)
	clock := newFakeClock()
	oldKey, newKey := newRSAKey(t, "old"), newRSAKey(t, "new")
	f.serveKeys(t, oldKey.jwk)
	ks := newTestKeySet(t, f, clock)
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	f.serveKeys(t, oldKey.jwk, newKey.jwk)
	clock.Advance(testGap + time.Second)
	got, ok := ks.Key(context.Background(), newKey.libtrustID)
	if !ok || !sameKey(newKey.jwk.Key, got) {
		t.Fatalf("rotated-in key not found by its libtrust kid")
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("JWKS requests = %d, want 2 (initial load + one on unknown kid)", n)
	}
	// Known keys are served from memory.
	if _, ok := ks.Key(context.Background(), "old"); !ok {
		t.Error("old key lost after rotation")
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("JWKS requests after known-kid lookup = %d, want 2", n)
	}
}

func TestKeySetRateLimitsUnknownKidRefreshes(t *testing.T) {
	f := newFakeJWKSServer(t)
	clock := newFakeClock()
	f.serveKeys(t, newECKey(t, "a").jwk)
	ks := newTestKeySet(t, f, clock)
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The first unknown kid fetches even right after a load (a key rotated
	// in just after a periodic refresh must not wait); more made-up kids
	// within the gap cause no further requests.
	for range 5 {
		if _, ok := ks.Key(context.Background(), "made-up"); ok {
			t.Fatal("made-up kid found")
		}
	}
	if n := f.requests.Load(); n != 2 {
		t.Fatalf("requests within the gap = %d, want 2 (load + first unknown kid)", n)
	}

	// After the gap, one refresh, however many callers ask at once.
	clock.Advance(testGap)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if _, ok := ks.Key(context.Background(), "made-up"); ok {
				t.Errorf("caller %d: made-up kid found", i)
			}
		})
	}
	wg.Wait()
	if n := f.requests.Load(); n != 3 {
		t.Fatalf("requests after 50 concurrent unknown-kid lookups = %d, want 3", n)
	}

	// A failing Keycloak is rate limited just the same.
	f.serveRaw(http.StatusInternalServerError, "oops")
	clock.Advance(testGap)
	for range 5 {
		ks.Key(context.Background(), "made-up")
	}
	if n := f.requests.Load(); n != 4 {
		t.Fatalf("requests against a failing server = %d, want 4", n)
	}
}

func TestKeySetConcurrentCallersShareOneRefresh(t *testing.T) {
	f := newFakeJWKSServer(t)
	clock := newFakeClock()
	a, b := newECKey(t, "a"), newECKey(t, "b")
	f.serveKeys(t, a.jwk)
	ks := newTestKeySet(t, f, clock)
	if err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.serveKeys(t, a.jwk, b.jwk)
	clock.Advance(testGap)

	var found atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, ok := ks.Key(context.Background(), "b"); ok {
				found.Add(1)
			}
		})
	}
	wg.Wait()
	if found.Load() != 50 {
		t.Errorf("%d of 50 callers found the rotated-in key", found.Load())
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestKeySetKeepsLastGoodSet(t *testing.T) {
	good := newRSAKey(t, "good")
	encOnly := newRSAKey(t, "enc")
	encOnly.jwk.Use = "enc"
	encBody, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{encOnly.jwk}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		breakServer func(*fakeJWKSServer)
	}{
		{"500", func(f *fakeJWKSServer) { f.serveRaw(http.StatusInternalServerError, "internal error") }},
		{"404", func(f *fakeJWKSServer) { f.serveRaw(http.StatusNotFound, `{"error":"Realm does not exist"}`) }},
		{"garbage", func(f *fakeJWKSServer) { f.serveRaw(http.StatusOK, "<html>proxy error</html>") }},
		{"no keys member", func(f *fakeJWKSServer) { f.serveRaw(http.StatusOK, `{}`) }},
		{"empty set", func(f *fakeJWKSServer) { f.serveRaw(http.StatusOK, `{"keys":[]}`) }},
		{"only encryption keys", func(f *fakeJWKSServer) { f.serveRaw(http.StatusOK, string(encBody)) }},
		{"hangs", func(f *fakeJWKSServer) { f.hangForever() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeJWKSServer(t)
			f.serveKeys(t, good.jwk)
			ks := newTestKeySet(t, f, newFakeClock())
			if err := ks.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}

			tt.breakServer(f)
			start := time.Now()
			if err := ks.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh succeeded against a broken server")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Refresh took %v; the client timeout should bound it", d)
			}
			if ks.LastError() == nil {
				t.Error("LastError is nil after a failed refresh")
			}
			if !ks.Ready() {
				t.Error("not Ready after a failed refresh following a good one")
			}
			for _, kid := range []string{"good", good.libtrustID} {
				if got, ok := ks.Key(context.Background(), kid); !ok || !sameKey(good.jwk.Key, got) {
					t.Errorf("Key(%q) lost after a failed refresh", kid)
				}
			}

			f.serveKeys(t, good.jwk)
			if err := ks.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh after recovery: %v", err)
			}
			if err := ks.LastError(); err != nil {
				t.Errorf("LastError after recovery = %v", err)
			}
		})
	}
}

func TestKeySetKeyGivesUpWithCallerContext(t *testing.T) {
	f := newFakeJWKSServer(t)
	f.hangForever()
	ks := NewKeySet(KeySetOptions{
		Client: &http.Client{Timeout: 2 * time.Second},
		Realm:  f.realm(t),
	})
	// Hold the fetch slot with a hanging refresh.
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		_ = ks.Refresh(context.Background())
	}()
	defer func() { <-refreshed }()
	for f.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, ok := ks.Key(ctx, "x"); ok {
		t.Fatal("Key found a key on a hanging server")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Key waited %v for another caller's fetch after its context ended", d)
	}
}

func TestKeySetRun(t *testing.T) {
	f := newFakeJWKSServer(t)
	a, b := newECKey(t, "a"), newECKey(t, "b")
	f.serveRaw(http.StatusServiceUnavailable, "booting")
	ks := NewKeySet(KeySetOptions{
		Client:          &http.Client{Timeout: time.Second},
		Realm:           f.realm(t),
		RefreshInterval: 100 * time.Millisecond,
		// A frozen clock blocks unknown-kid refreshes, so only Run can
		// pick up the rotation below.
		MinRefreshGap: time.Hour,
		Now:           newFakeClock().Now,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ks.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	waitFor(t, "first failed attempts", func() bool { return f.requests.Load() >= 2 })
	if ks.Ready() {
		t.Fatal("Ready while the server fails")
	}
	f.serveKeys(t, a.jwk)
	waitFor(t, "first load", ks.Ready)

	f.serveKeys(t, a.jwk, b.jwk)
	waitFor(t, "periodic refresh picking up key b", func() bool {
		_, ok := ks.Key(context.Background(), b.libtrustID)
		return ok
	})

	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
