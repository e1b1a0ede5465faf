package identity

import (
	"sync"
	"time"
)

// maxThrottleKeys bounds the throttle's memory under a spray of user names
// or addresses.
const maxThrottleKeys = 50000

// throttle counts failed sign-ins per key (a user name, a client address) in
// a fixed window; past the limit the key is refused without asking Keycloak
// until the window ends, so the stack never amplifies a brute-force attack
// on Keycloak, whose own protection still applies behind it.
type throttle struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	m      map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

func newThrottle(limit int, w time.Duration) *throttle {
	return &throttle{limit: limit, window: w, m: map[string]*window{}}
}

// wait returns how long key must wait, 0 when it may try now.
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[key]
	if w == nil {
		return 0
	}
	end := w.start.Add(t.window)
	if !now.Before(end) {
		delete(t.m, key)
		return 0
	}
	if w.failures < t.limit {
		return 0
	}
	return end.Sub(now)
}

func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[key]
	if w == nil || !now.Before(w.start.Add(t.window)) {
		if len(t.m) >= maxThrottleKeys {
			t.sweep(now)
			if len(t.m) >= maxThrottleKeys {
				return // keys already counted (the client address) still throttle
			}
		}
		w = &window{start: now}
		t.m[key] = w
	}
	w.failures++
}

func (t *throttle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// sweep drops ended windows; called with mu held.
func (t *throttle) sweep(now time.Time) {
	for k, w := range t.m {
		if !now.Before(w.start.Add(t.window)) {
			delete(t.m, k)
		}
	}
}
