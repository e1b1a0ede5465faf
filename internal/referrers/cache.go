package referrers

import (
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// cacheEntries bounds the descriptor cache (a few hundred bytes each).
const cacheEntries = 20000

// descCache keeps descriptors read from the index by referrer digest. An
// entry's content is derived from the referrer's manifest, which its digest
// fixes, so a cached descriptor is never stale, in this process or any
// replica: whether an entry still exists is always read from the storage
// (the subject's listing), only its content is remembered.
type descCache struct {
	mu sync.Mutex
	m  map[digest.Digest]cached
}

type cached struct {
	desc v1.Descriptor
	raw  []byte
}

func newDescCache() *descCache { return &descCache{m: make(map[digest.Digest]cached)} }

func (c *descCache) get(d digest.Digest) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[d]
	return e, ok
}

func (c *descCache) put(d digest.Digest, e cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheEntries {
		// Drop an arbitrary tenth: cheap, and a miss only costs a read.
		n := cacheEntries / 10
		for k := range c.m {
			delete(c.m, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.m[d] = e
}

// freshness remembers, per key, when something was last done, for ttl.
type freshness struct {
	ttl  time.Duration
	mu   sync.Mutex
	last map[string]time.Time
	// sweepAt is the size at which stale keys are next swept: twice what
	// the last sweep left, so sweeping stays cheap per mark.
	sweepAt int
}

func newFreshness(ttl time.Duration) *freshness {
	return &freshness{ttl: ttl, last: map[string]time.Time{}, sweepAt: 1024}
}

// fresh reports whether key was done less than ttl ago.
func (f *freshness) fresh(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.last[key]
	return ok && time.Since(t) < f.ttl
}

// mark records key as done now. Stale keys are swept as the map grows,
// so it holds about what ttl's worth of listings named.
func (f *freshness) mark(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.last) >= f.sweepAt {
		for k, t := range f.last {
			if time.Since(t) >= f.ttl {
				delete(f.last, k)
			}
		}
		f.sweepAt = max(1024, 2*len(f.last))
	}
	f.last[key] = time.Now()
}
