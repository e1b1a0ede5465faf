package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// BodyIdle cuts a request body that sends nothing for idle: the handler's
// Read fails (the error wraps os.ErrDeadlineExceeded), the connection is
// closed after the answer (HTTP/1.1; HTTP/2 resets the stream), and one
// warning names the request. It is an idle deadline, renewed before every
// read, not an overall one: a large layer over a slow link keeps going as
// long as bytes keep coming. idle <= 0 returns next unchanged.
//
// The deadline is the connection's read deadline, set through
// http.ResponseController, so BodyIdle must get the server's own
// ResponseWriter (or wrappers that Unwrap to it): Serve puts it outermost.
// Where no deadline can be set, the body is passed through untouched.
func BodyIdle(idle time.Duration, l *slog.Logger, next http.Handler) http.Handler {
	if idle <= 0 {
		return next
	}
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &idleBody{
			body: r.Body, rc: http.NewResponseController(w), idle: idle, log: l,
			method: r.Method, path: r.URL.Path, remote: r.RemoteAddr,
		}
		r2 := r.WithContext(r.Context()) // a shallow copy: the caller's request stays as it was
		r2.Body = b
		next.ServeHTTP(w, r2)
	})
}

// idleBody renews the connection's read deadline before each read.
type idleBody struct {
	body io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	log  *slog.Logger
	// What the warning names; copied so the reader never touches the
	// request from another goroutine (a proxying handler may read the
	// body in its transport's goroutine).
	method, path, remote string

	// Reads of one body never overlap, but the goroutine may change (see
	// above).
	off      atomic.Bool  // no deadline: none can be set, or the body is done or cut
	renewed  atomic.Int64 // unix nanoseconds of the last renewal; 0 before the first read
	received atomic.Int64
	cut      atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	armed := !b.off.Load()
	if armed {
		armed = b.renew()
	}
	n, err := b.body.Read(p)
	b.received.Add(int64(n))
	switch {
	case err == nil || !armed:
	case errors.Is(err, io.EOF):
		// The body is done: later reads (the server's watch for a closed
		// connection, the next request) are not ours to time. HTTP/1.1
		// clears the deadline itself at this point; HTTP/2 needs the
		// stream's timer stopped.
		b.off.Store(true)
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline stays in the past: net/http's own attempt to read
		// the rest of the body when the answer is written fails at once,
		// so it closes the connection instead of waiting for the client
		// or reading the rest of the body as the next request.
		b.off.Store(true)
		b.cut.Store(true)
		b.log.Warn("request body cut: nothing received for the idle timeout (http.body_idle_timeout)",
			"method", b.method, "path", b.path, "remote", b.remote,
			"idle", b.idle.String(), "received_bytes", b.received.Load())
		err = fmt.Errorf("request body: nothing received for %s (http.body_idle_timeout): %w", b.idle, err)
	}
	return n, err
}

// renew moves the deadline to idle (plus a sixteenth) from now, at most
// every sixteenth of idle: fast uploads read thousands of times a second,
// and on HTTP/2 each renewal is a message to the connection's goroutine.
// The slack keeps the guarantee: a body is never cut before it has been
// silent for idle, and is cut within 17/16 of it.
func (b *idleBody) renew() bool {
	now := time.Now()
	slack := b.idle / 16
	if last := b.renewed.Load(); last != 0 && now.Sub(time.Unix(0, last)) < slack {
		return true
	}
	if err := b.rc.SetReadDeadline(now.Add(b.idle + slack)); err != nil {
		// Not the server's writer (or a protocol without deadlines): read
		// without one rather than fail the request.
		b.off.Store(true)
		return false
	}
	b.renewed.Store(now.UnixNano())
	return true
}

func (b *idleBody) Close() error { return b.body.Close() }

// bodyCut says why BodyIdle cut r's body, for the access log; "" when it
// did not.
func bodyCut(r *http.Request) string {
	b, ok := r.Body.(*idleBody)
	if !ok || !b.cut.Load() {
		return ""
	}
	return "request body idle for " + b.idle.String() + " (http.body_idle_timeout)"
}
