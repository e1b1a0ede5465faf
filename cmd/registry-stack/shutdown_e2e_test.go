package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// freshGet asks url over a new connection, as a client the load balancer
// has just sent here would.
func freshGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestShutdownOrder checks what Kubernetes and systemd rely on, in order:
// after SIGTERM /readyz answers 503 at once while new connections are
// still served for http.drain_delay; then new connections are refused; an
// upload in flight still completes within shutdown_grace; the process
// exits 0.
func TestShutdownOrder(t *testing.T) {
	const drain = 3 * time.Second
	st := stackrun.Start(t, []string{"REGISTRY_STACK_HTTP_DRAIN_DELAY=" + drain.String(), "REGISTRY_STACK_SHUTDOWN_GRACE=60s"})

	// An upload that is still sending when the listener closes: 6 s of
	// trickle, started just before the signal, outlasts the 3 s drain.
	data, dgst := randomBlob(60 << 10)
	loc := startUpload(t, st.URL, "shutdown/app")
	body := &trickleBody{data: data, chunk: 1 << 10, gap: 100 * time.Millisecond}
	inFlight := make(chan outcome, 1)
	req := patchRequest(t, loc, body, 0, -1)
	go func() { inFlight <- attempt(req) }()
	for body.sent.Load() < 4<<10 {
		time.Sleep(10 * time.Millisecond)
	}

	if err := st.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// "At once": the first answers may predate the signal's delivery, but
	// 503 must come well inside the drain.
	signalled := time.Now()
	for {
		code, body, err := freshGet(st.URL + "/readyz")
		if err != nil {
			t.Fatalf("/readyz after SIGTERM: %v; the listener must keep accepting during the drain", err)
		}
		if code == http.StatusServiceUnavailable {
			var ready struct {
				Ready    bool `json:"ready"`
				Draining bool `json:"draining"`
			}
			if err := json.Unmarshal([]byte(body), &ready); err != nil || ready.Ready || !ready.Draining || !strings.Contains(body, "draining") {
				t.Errorf("/readyz while draining: %q; want ready false, draining true", body)
			}
			break
		}
		if time.Since(signalled) > drain/3 {
			t.Fatalf("/readyz still %d %s after SIGTERM; want 503 at once", code, time.Since(signalled))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// New connections are served for the rest of the drain (a third of it
	// is checked here, the rest is left as margin).
	for until := signalled.Add(drain / 3); time.Now().Before(until); time.Sleep(100 * time.Millisecond) {
		if code, body, err := freshGet(st.URL + "/v2/"); err != nil || code != http.StatusOK {
			t.Fatalf("new request during the drain: %d %q %v; want it served", code, body, err)
		}
	}
	if strings.Contains(st.Logs(), "stopped accepting") {
		t.Fatal("stopped accepting before the checks of the drain were done: the machine is too slow for this drain delay")
	}

	st.WaitLog(t, "stopped accepting new connections", 2*drain)
	if c, err := net.DialTimeout("tcp", st.Addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted after the drain")
	}
	select {
	case res := <-inFlight:
		t.Fatalf("the in-flight upload ended (%s) before the listener closed: the test proves nothing", res)
	default:
	}
	res := <-inFlight
	if res.status != http.StatusAccepted {
		t.Fatalf("in-flight upload after the listener closed: %s; want 202 within the grace", res)
	}
	code, err := st.Wait(60 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit code %d (%v), want 0", code, err)
	}
	logs := st.Logs()
	last := -1
	for _, msg := range []string{"shutting down: draining", "stopped accepting new connections", "all requests finished", `"msg":"stopped"`} {
		at := strings.Index(logs, msg)
		if at < 0 || at < last {
			t.Fatalf("log line %q missing or out of order:\n%s", msg, logs)
		}
		last = at
	}

	// What the client was told it has, it has: restart on the same data and
	// finish the upload that completed its PATCH during the grace.
	st2 := stackrun.Start(t, nil, "--data-dir", st.DataDir)
	if code := finishUpload(t, strings.Replace(absolute(st.URL, res.header.Get("Location")), st.URL, st2.URL, 1), dgst, http.NoBody, 0); code != http.StatusCreated {
		t.Fatalf("finishing the upload after a restart: %d, want 201", code)
	}
}

// TestSecondSignalExitsAtOnce: during the drain a second SIGTERM or SIGINT
// ends the process at once, with 128 + the signal's number and a log line.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	tests := []struct {
		name   string
		second syscall.Signal
		code   int
	}{
		{"SIGTERM", syscall.SIGTERM, 143},
		{"SIGINT", syscall.SIGINT, 130},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Drain and grace far longer than the wait below: only the
			// second signal can end the process in time.
			st := stackrun.Start(t, []string{"REGISTRY_STACK_HTTP_DRAIN_DELAY=5m", "REGISTRY_STACK_SHUTDOWN_GRACE=5m"})
			if err := st.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			st.WaitLog(t, "shutting down: draining", 10*time.Second)
			if err := st.Signal(tc.second); err != nil {
				t.Fatal(err)
			}
			code, err := st.Wait(10 * time.Second)
			if err != nil {
				t.Fatalf("second %s did not end the process: %v", tc.second, err)
			}
			if code != tc.code {
				t.Errorf("exit code %d after a second %s, want %d", code, tc.second, tc.code)
			}
			if !strings.Contains(st.Logs(), "second signal during shutdown") {
				t.Errorf("no log line about the second signal:\n%s", st.Logs())
			}
		})
	}
}
