package tokenauth

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// countingKeys counts lookups, i.e. signature verifications.
type countingKeys struct {
	staticKeys
	n atomic.Int32
}

func (c *countingKeys) Key(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	c.n.Add(1)
	return c.staticKeys.Key(ctx, kid)
}

// A token verified once is served from the cache until it expires, and only
// a token that verified is ever cached.
func TestVerifiedTokenCache(t *testing.T) {
	keys := generateKeys(t)
	src := &countingKeys{staticKeys: keys.source()}
	c := newTestController(t, Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: src})
	good := sign(t, jose.RS256, keys.rsa, "rsa", claims(access{repo("foo/bar", "pull")}))
	forged := sign(t, jose.RS256, keys.other, "rsa", claims(access{repo("foo/bar", "pull")}))
	authorize := func(raw string) error {
		req := httptest.NewRequest(http.MethodGet, "/v2/foo/bar/manifests/latest", nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		_, err := c.Authorized(req, pushPull("foo/bar")[0])
		return err
	}
	for i := range 3 {
		if err := authorize(good); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := src.n.Load(); n != 1 {
		t.Errorf("3 requests with one token verified its signature %d times, want 1", n)
	}
	for i := range 2 {
		if err := authorize(forged); err == nil {
			t.Fatalf("forged token accepted on try %d", i)
		}
	}
	if n := src.n.Load(); n != 3 {
		t.Errorf("a refused token must be verified every time: %d verifications, want 3", n)
	}
	// Past expiry plus leeway the cached token is refused.
	c.verifier.now = func() time.Time { return testNow.Add(5*time.Minute + 2*time.Minute) }
	if err := authorize(good); err == nil {
		t.Fatal("expired token served from the cache")
	}
}
