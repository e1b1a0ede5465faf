package tokenauth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
)

// maxVerified bounds the verified-token cache.
const maxVerified = 8192

// verified remembers tokens whose signature, issuer and audience have been
// checked, until they expire: docker presents the same token for every
// request of a pull or push, and re-verifying its signature each time costs
// more than serving a small manifest. The key is the token's SHA-256, so
// the cache holds no usable token.
type verified struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	claims *token.ClaimSet
	// until is the token's expiry plus distribution's leeway, after which
	// Verify would refuse it.
	until time.Time
}

func (v *verified) get(raw string, now time.Time) (*token.ClaimSet, bool) {
	k := sha256.Sum256([]byte(raw))
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[k]
	if !ok {
		return nil, false
	}
	if now.After(e.until) {
		delete(v.m, k)
		return nil, false
	}
	return e.claims, true
}

func (v *verified) put(raw string, c *token.ClaimSet, now time.Time) {
	until := time.Unix(c.Expiration, 0).Add(token.Leeway)
	// A token not yet valid is verified again when it is presented again.
	if now.After(until) || now.Before(time.Unix(c.NotBefore, 0).Add(-token.Leeway)) {
		return
	}
	k := sha256.Sum256([]byte(raw))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[[sha256.Size]byte]verifiedEntry{}
	}
	if len(v.m) >= maxVerified {
		for k2, e := range v.m {
			if now.After(e.until) || len(v.m) >= maxVerified*9/10 {
				delete(v.m, k2)
			}
		}
	}
	v.m[k] = verifiedEntry{claims: c, until: until}
}
