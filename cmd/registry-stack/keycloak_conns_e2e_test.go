package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/keycloak"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/tcprelay"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
)

// TestKeycloakConnections checks that the stack reuses and bounds its
// connections to Keycloak: under concurrent token requests it keeps a few
// connections open instead of one per call, a slow Keycloak that makes
// calls time out never sees more than keycloak.MaxConnsPerHost of them and
// is left with none dangling, and everything works again once Keycloak
// is fast. The relay in front of the real Keycloak counts connections and
// makes it slow on demand.
func TestKeycloakConnections(t *testing.T) {
	kc := keycloaktest.Require(t)
	realm := keycloaktest.NewRealm(t, kc, "conns")
	relay := tcprelay.New(t, strings.TrimPrefix(realm.Server.URL, "http://"))
	st := stackrun.Start(t, []string{"REGISTRY_STACK_KEYCLOAK_TIMEOUT=5s"}, realm.StackArgsVia(relay.URL)...)

	q := url.Values{"service": {realm.Service}, "scope": {"repository:team/app:pull"}}
	tokenURL := st.URL + realm.TokenPath() + "?" + q.Encode()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	// burst sends n token requests from workers goroutines and counts the
	// answers by status (0: no answer).
	burst := func(n, workers int) map[int]int {
		var mu sync.Mutex
		statuses := map[int]int{}
		jobs := make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range jobs {
					status := 0
					req, _ := http.NewRequest(http.MethodGet, tokenURL, nil)
					req.SetBasicAuth(realm.User, realm.Password)
					if resp, err := client.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						status = resp.StatusCode
					}
					mu.Lock()
					statuses[status]++
					mu.Unlock()
				}
			})
		}
		for range n {
			jobs <- struct{}{}
		}
		close(jobs)
		wg.Wait()
		return statuses
	}

	const workers, requests = 8, 96
	before := relay.Accepted()
	got := burst(requests, workers)
	// On a loaded machine a login may take longer than keycloak.timeout;
	// a few such failures are Keycloak's, and each closes its connection.
	failed := requests - got[http.StatusOK]
	if failed > requests/10 {
		t.Fatalf("token requests against a healthy Keycloak: statuses %v, want %d × 200", got, requests)
	}
	reused := relay.Accepted() - before
	// Each worker needs at most one connection at a time; the key and
	// issuer refreshes may add one.
	if limit := workers + 2 + failed; reused > limit {
		t.Errorf("%d token requests from %d clients opened %d connections to Keycloak, want at most %d (connections are not reused)", requests, workers, reused, limit)
	}
	testartifacts.Figure(t, "keycloak connections", fmt.Sprintf("%d token requests, %d concurrent: %d connections to Keycloak", requests, workers, reused))

	// Slow Keycloak: every answer is held past keycloak.timeout (5s).
	relay.SetDelay(8 * time.Second)
	const waiting = keycloak.MaxConnsPerHost + 16
	relay.ResetPeak()
	got = burst(waiting, waiting)
	if got[http.StatusOK] != 0 || got[0] != 0 {
		t.Errorf("token requests against a slow Keycloak: statuses %v, want each answered with an error", got)
	}
	for status := range got {
		if status != 0 && status < 500 {
			t.Errorf("a timed-out Keycloak call answered %d, want a 5xx", status)
		}
	}
	peak := relay.Peak()
	// The relay notices a connection closed by the stack a moment after the
	// stack has closed it and dialled the next: allow a few in flight.
	// Unbounded, every waiting request would hold one (80).
	if limit := keycloak.MaxConnsPerHost + 4; peak > limit {
		t.Errorf("%d waiting token requests held %d connections to a slow Keycloak at once, want at most %d (bound %d)", waiting, peak, limit, keycloak.MaxConnsPerHost)
	}
	testartifacts.Figure(t, "keycloak connections", fmt.Sprintf("%d concurrent token requests to a Keycloak slower than keycloak.timeout: at most %d connections at once (bound %d)", waiting, peak, keycloak.MaxConnsPerHost))

	// Timed-out calls close their connections: none stays open on the
	// slow Keycloak once its late answers have arrived.
	deadline := time.Now().Add(30 * time.Second)
	for relay.Open() > keycloak.MaxIdleConnsPerHost && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := relay.Open(); n > keycloak.MaxIdleConnsPerHost {
		t.Errorf("%d connections to Keycloak still open after the timed-out calls, want at most %d", n, keycloak.MaxIdleConnsPerHost)
	}

	// Keycloak still works off the requests that timed out; once it has,
	// token requests succeed again with no restart.
	relay.SetDelay(0)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		got := burst(workers, workers)
		if got[http.StatusOK] == workers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token requests once Keycloak is fast again: statuses %v, want %d × 200", got, workers)
		}
		time.Sleep(time.Second)
	}
}
