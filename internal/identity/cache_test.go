package identity

import (
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
		if w := th.wait("alice", now); w != 0 {
			t.Fatalf("attempt %d: wait %s, want none", i, w)
		}
		th.fail("alice", now)
	}
	if w := th.wait("alice", now.Add(10*time.Second)); w != 50*time.Second {
		t.Fatalf("after 3 failures: wait %s, want 50s", w)
	}
	if w := th.wait("bob", now); w != 0 {
		t.Fatalf("another key waits %s", w)
	}
	if w := th.wait("alice", now.Add(time.Minute)); w != 0 {
		t.Fatalf("after the window: wait %s", w)
	}
	th.fail("carol", now)
	th.succeed("carol")
	if _, ok := th.m["carol"]; ok {
		t.Fatal("success did not reset the count")
	}
}
