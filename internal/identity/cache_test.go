package identity

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := newCache()
	now := time.Unix(1_000_000, 0)
	alice := &Identity{Kind: KindUser}
	k := c.keyOf("password", "alice", "pw")
	if k == c.keyOf("password", "alic", "epw") {
		t.Fatal("keys of differently split credentials collide")
	}
	if k == newCache().keyOf("password", "alice", "pw") {
		t.Fatal("two caches derive the same key: the key is not secret")
	}
	c.put(k, alice, now.Add(time.Minute), now)
	if got, ok := c.get(k, now.Add(59*time.Second)); !ok || got != alice {
		t.Fatalf("get before expiry = %v, %v", got, ok)
	}
	if _, ok := c.get(k, now.Add(time.Minute)); ok {
		t.Fatal("entry served at its expiry")
	}
	c.put(k, alice, now.Add(time.Minute), now)
	c.drop(k)
	if _, ok := c.get(k, now); ok {
		t.Fatal("dropped entry still served")
	}
	c.put(k, alice, now, now) // already expired: not stored
	if len(c.m) != 0 {
		t.Fatalf("expired put stored %d entries", len(c.m))
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCache()
	now := time.Unix(1_000_000, 0)
	for i := range maxCacheEntries + 500 {
		c.put(c.keyOf("u", string(rune(i))), &Identity{}, now.Add(time.Minute), now)
	}
	if len(c.m) > maxCacheEntries {
		t.Fatalf("cache holds %d entries, bound %d", len(c.m), maxCacheEntries)
	}
}

func TestThrottle(t *testing.T) {
	th := newThrottle(3, time.Minute)
	now := time.Unix(1_000_000, 0)
	for i := range 3 {
		if w := th.begin("alice", now); w != 0 {
			t.Fatalf("attempt %d: wait %s, want none", i, w)
		}
		th.fail("alice")
	}
	if w := th.begin("alice", now.Add(10*time.Second)); w != 50*time.Second {
		t.Fatalf("after 3 failures: wait %s, want 50s", w)
	}
	if w := th.begin("bob", now); w != 0 {
		t.Fatalf("another key waits %s", w)
	}
	th.done("bob")
	if w := th.begin("alice", now.Add(time.Minute)); w != 0 {
		t.Fatalf("after the window: wait %s", w)
	}
}

// Attempts in flight count at once: concurrent guesses cannot all get
// through before the first failures come back.
func TestThrottleCountsAttemptsInFlight(t *testing.T) {
	th := newThrottle(5, time.Minute)
	now := time.Unix(1_000_000, 0)
	var wg sync.WaitGroup
	var admitted atomic.Int32
	for range 200 {
		wg.Go(func() {
			if th.begin("alice", now) == 0 {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 5 {
		t.Fatalf("%d of 200 concurrent attempts admitted, want 5", n)
	}
	for range 5 {
		th.done("alice") // none was a wrong credential: the places free up
	}
	if w := th.begin("alice", now); w != 0 {
		t.Fatalf("after the attempts ended without failing: wait %s", w)
	}
}

// A full throttle evicts old windows rather than stop counting new keys.
func TestThrottleIsBoundedAndKeepsCounting(t *testing.T) {
	th := newThrottle(1, time.Minute)
	now := time.Unix(1_000_000, 0)
	for i := range maxThrottleKeys + 10 {
		k := fmt.Sprint(i)
		th.begin(k, now.Add(time.Duration(i)*time.Microsecond))
		th.fail(k)
	}
	if len(th.m) > maxThrottleKeys {
		t.Fatalf("%d keys, bound %d", len(th.m), maxThrottleKeys)
	}
	last := fmt.Sprint(maxThrottleKeys + 9)
	if w := th.begin(last, now.Add(time.Second)); w == 0 {
		t.Fatal("the newest key is no longer throttled")
	}
}
