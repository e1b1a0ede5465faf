// Package browsertest drives a headless Chromium (chromedp) for the UI's
// end-to-end tests: tabs that record what the page reports as broken and the
// bytes it transfers, JavaScript evaluation and polling, canned answers for
// failures the real stack cannot produce on demand, and screenshots saved to
// $TEST_ARTIFACTS_DIR/screenshots.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/registry-stack/registry-stack/internal/testartifacts"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// Tab is one tab of a headless Chromium driven through chromedp. It records
// what the page reports as broken (uncaught exceptions, console errors,
// browser log errors such as CSP violations) and the bytes every response
// took on the wire.
type Tab struct {
	Ctx context.Context
	t   testing.TB

	mu        sync.Mutex
	problems  []string
	responses map[network.RequestID]*network.Response
	transfers []Transfer
}

// Transfer is one finished response: its URL, the bytes it took on the
// wire (headers and compressed body) and those of the body alone.
type Transfer struct {
	URL       string
	Bytes     int64
	BodyBytes int64
}

// chromiumPath finds the Debian package's browser.
func chromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// NewBrowser starts a headless Chromium with a fresh profile and returns
// its first tab. Without Chromium the test is skipped, or fails under CI.
// The browser stops when the test ends.
func NewBrowser(t testing.TB) *Tab {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		testenv.Missing(t, "chromium (/usr/bin/chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(f string, a ...any) { t.Logf("chromedp: "+f, a...) }))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return newTab(t, ctx)
}

// NewTab opens another tab in the same browser: same cookies and
// localStorage, but its own sessionStorage, like a tab the user opens.
// The tab closes when the test ends.
func (tb *Tab) NewTab(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tb.Ctx)
	t.Cleanup(cancel)
	return newTab(t, ctx)
}

func newTab(t testing.TB, ctx context.Context) *Tab {
	t.Helper()
	tab := &Tab{Ctx: ctx, t: t, responses: map[network.RequestID]*network.Response{}}
	// Listen starts the browser and the tab; log and network are enabled by chromedp.
	if err := chromedp.Listen(ctx, tab.record); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tab
}

// record runs on chromedp's reading goroutine: it only stores.
func (tb *Tab) record(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		tb.problems = append(tb.problems, fmt.Sprintf("exception: %s (%s:%d)", text, d.URL, d.LineNumber))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			tb.problems = append(tb.problems, "console.error: "+strings.Join(parts, " "))
		}
	case *cdplog.EventEntryAdded:
		// Failed HTTP answers (401 on a wrong password, 404s the UI expects)
		// are network entries; everything else at error level is a defect,
		// CSP violations included.
		if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
			tb.problems = append(tb.problems, fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *network.EventResponseReceived:
		tb.responses[ev.RequestID] = ev.Response
	case *network.EventLoadingFinished:
		tr := Transfer{Bytes: int64(ev.EncodedDataLength), BodyBytes: int64(ev.EncodedBodyLength)}
		if r := tb.responses[ev.RequestID]; r != nil {
			tr.URL = r.URL
			// Chromium leaves encodedBodyLength at 0; Content-Length is the
			// body as sent (compressed when Content-Encoding is set).
			if n, err := strconv.ParseInt(fmt.Sprint(headerValue(r.Headers, "Content-Length")), 10, 64); err == nil && tr.BodyBytes == 0 {
				tr.BodyBytes = n
			}
		}
		tb.transfers = append(tb.transfers, tr)
	}
}

// Problems returns what the page reported as broken so far and forgets it.
func (tb *Tab) Problems() []string { return take(tb, &tb.problems) }

// Transfers returns the responses finished so far and forgets them.
func (tb *Tab) Transfers() []Transfer { return take(tb, &tb.transfers) }

// take empties one of the tab's records and returns what it held.
func take[T any](tb *Tab, record *[]T) []T {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	v := *record
	*record = nil
	return v
}

// Do runs the steps and fails the test with what was being done.
func (tb *Tab) Do(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tb.Ctx, steps...); err != nil {
		tb.Screenshot(t, "failed-"+testartifacts.FileName(t.Name()))
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression (awaiting a promise) and returns
// its JSON value as T.
func Eval[T any](t testing.TB, tb *Tab, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tb.Ctx, chromedp.Evaluate[T](expr, func(p *runtime.EvaluateParams) {
		await := true
		p.AwaitPromise = &await
	}))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// WaitTrue polls a JavaScript predicate until it is true (chromedp's own
// polling, bounded by its default 30 s).
func (tb *Tab) WaitTrue(t testing.TB, what, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(tb.Ctx, chromedp.Poll[bool](predicate)); err != nil {
		tb.Screenshot(t, "failed-"+testartifacts.FileName(t.Name()))
		t.Fatalf("browser: waiting for %s (%s): %v", what, predicate, err)
	}
}

// Screenshot saves the viewport as $TEST_ARTIFACTS_DIR/screenshots/<name>.png
// when that variable is set.
func (tb *Tab) Screenshot(t testing.TB, name string) {
	t.Helper()
	dir := testartifacts.Dir(t, "screenshots")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tb.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// Reply is a canned answer for an intercepted request: a status with a
// body, or (Fail) a network error as if the server were unreachable.
type Reply struct {
	Status  int
	Body    string
	Headers map[string]string
	Fail    bool
}

// Intercept answers every request whose URL matches one of the patterns
// (Chrome wildcards: * and ?) with reply (JSON unless reply.Headers sets
// Content-Type) instead of the server, until the returned stop func is
// called. It simulates failures the real stack
// cannot be made to produce on demand (a network cut, a 403).
func (tb *Tab) Intercept(t testing.TB, patterns []string, reply Reply) (stop func()) {
	t.Helper()
	var ps []*fetch.RequestPattern
	for _, p := range patterns {
		ps = append(ps, &fetch.RequestPattern{URLPattern: p})
	}
	ictx, cancel := context.WithCancel(tb.Ctx)
	events := chromedp.Events(ictx, fetch.RequestPaused)
	if _, err := chromedp.Call(tb.Ctx, fetch.Enable, fetch.EnableParams{Patterns: ps}); err != nil {
		cancel()
		t.Fatalf("browser: intercept %v: %v", patterns, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range events {
			if err != nil {
				return
			}
			if reply.Fail {
				_, err = chromedp.Call(tb.Ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionRefused})
			} else {
				var hdrs []*fetch.HeaderEntry
				if _, ok := reply.Headers["Content-Type"]; !ok {
					hdrs = append(hdrs, &fetch.HeaderEntry{Name: "Content-Type", Value: "application/json"})
				}
				for k, v := range reply.Headers {
					hdrs = append(hdrs, &fetch.HeaderEntry{Name: k, Value: v})
				}
				_, err = chromedp.Call(tb.Ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: int64(reply.Status), ResponseHeaders: hdrs, Body: []byte(reply.Body)})
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("browser: answer intercepted request: %v", err)
			}
		}
	}()
	return func() {
		_, _ = chromedp.Call(tb.Ctx, fetch.Disable, struct{}{})
		cancel()
		<-done
	}
}

// headerValue looks a header up case-insensitively.
func headerValue(h network.Headers, name string) any {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}
