package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// maxCacheEntries bounds the cache's memory whatever the traffic.
const maxCacheEntries = 10000

// cache remembers verified identities for a short time, so that docker's
// token request before every push and pull does not cost a Keycloak
// password hash each. Its key is a keyed hash of the credentials: a memory
// dump or a timing probe reveals neither a password nor whether a guessed
// one is cached.
type cache struct {
	key []byte
	mu  sync.Mutex
	m   map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	id    *Identity
	until time.Time
}

func newCache() *cache {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("identity: no randomness for the cache key: " + err.Error()) // crypto/rand never fails on Linux
	}
	return &cache{key: key, m: map[[sha256.Size]byte]cacheEntry{}}
}

// keyOf hashes the parts with the cache's secret key; parts are separated
// so that ("ab","c") and ("a","bc") differ.
func (c *cache) keyOf(parts ...string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *cache) get(k [sha256.Size]byte, now time.Time) (*Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.m, k)
		return nil, false
	}
	return e.id, true
}

func (c *cache) put(k [sha256.Size]byte, id *Identity, until time.Time, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCacheEntries {
		for k2, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k2)
			}
		}
		// Still full of live entries: drop arbitrary ones (map order)
		// rather than grow; they are only a cache.
		for k2 := range c.m {
			if len(c.m) < maxCacheEntries*9/10 {
				break
			}
			delete(c.m, k2)
		}
	}
	c.m[k] = cacheEntry{id: id, until: until}
}

func (c *cache) drop(k [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
