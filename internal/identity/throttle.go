package identity

import (
	"sync"
	"time"
)

// maxThrottleKeys bounds the throttle's memory under a spray of user names
// or addresses; keys are fixed-size hashes (see Authenticator.throttleKey).
const maxThrottleKeys = 50000

// throttle limits sign-in attempts per key (a user name, a client address)
// in a fixed window, so the stack never amplifies a brute-force attack on
// Keycloak. An attempt reserves its place before Keycloak is asked, so
// concurrent guesses count at once: check-then-act would let every request
// in flight through.
type throttle struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	m      map[string]*window
}

type window struct {
	start    time.Time
	failures int
	inFlight int
}

func newThrottle(limit int, w time.Duration) *throttle {
	return &throttle{limit: limit, window: w, m: map[string]*window{}}
}

// begin reserves an attempt for key. It returns how long to wait when the
// key has used up its window (failures and attempts in flight), else 0 and
// the attempt is reserved: end it with fail or done.
func (t *throttle) begin(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[key]
	if w != nil && !now.Before(w.start.Add(t.window)) && w.inFlight == 0 {
		delete(t.m, key)
		w = nil
	}
	if w == nil {
		if len(t.m) >= maxThrottleKeys {
			t.evict(now)
		}
		w = &window{start: now}
		t.m[key] = w
	}
	if w.failures+w.inFlight >= t.limit {
		return max(w.start.Add(t.window).Sub(now), time.Second)
	}
	w.inFlight++
	return 0
}

// fail ends a reserved attempt as a failure.
func (t *throttle) fail(key string) { t.end(key, true) }

// done ends a reserved attempt that was not a wrong credential.
func (t *throttle) done(key string) { t.end(key, false) }

func (t *throttle) end(key string, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[key]
	if w == nil {
		return
	}
	if w.inFlight > 0 {
		w.inFlight--
	}
	if failed {
		w.failures++
	}
}

// evict makes room: ended windows first, then the oldest ones, so the
// throttle never stops counting new keys. Called with mu held.
func (t *throttle) evict(now time.Time) {
	var oldest string
	var oldestStart time.Time
	for k, w := range t.m {
		if !now.Before(w.start.Add(t.window)) && w.inFlight == 0 {
			delete(t.m, k)
			continue
		}
		if oldest == "" || w.start.Before(oldestStart) {
			oldest, oldestStart = k, w.start
		}
	}
	if len(t.m) >= maxThrottleKeys && oldest != "" {
		delete(t.m, oldest)
	}
}
