// Package registryerrors stands around the embedded distribution registry
// and keeps its answers honest: a client's mistake gets a 4xx with a
// registry error body, a full or read-only storage gets 507, and any other
// server fault keeps its 5xx but loses every detail (storage paths,
// internal error strings), which goes to the server log instead.
//
// distribution v3.1.2 answers several malformed requests with 500 and puts
// the underlying error, storage path included, into the body. Requests whose
// shape alone is wrong are refused before they reach it (check.go); what
// only distribution can find out is classified from its error answer
// (classify.go). Only error answers (status >= 400) are held back, and only
// up to maxErrorBody bytes: successful and streaming answers (blobs) pass
// through untouched.
package registryerrors

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
)

// Options configures the guard.
type Options struct {
	// Logger receives the real error behind every answer that was changed.
	Logger *slog.Logger
	// Upstream is the base URL of the registry this one is a pull-through
	// cache of; empty when it is none.
	Upstream string
}

// New wraps next (the registry).
func New(next http.Handler, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &guard{next: next, log: o.Logger, upstream: o.Upstream}
}

type guard struct {
	next     http.Handler
	log      *slog.Logger
	upstream string
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := check(r); e != nil {
		if e.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, HEAD")
		}
		writeError(w, e)
		return
	}
	var body *recordingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &recordingBody{ReadCloser: r.Body}
		r.Body = body
	}
	rw := &holdErrors{w: w}
	g.next.ServeHTTP(rw, r)
	if rw.held {
		g.finish(w, r, rw, body.failure())
	}
}

// recordingBody remembers why reading the request body failed, so a 500
// that follows a malformed body (bad chunked encoding, a body cut short) is
// known to be the client's.
type recordingBody struct {
	io.ReadCloser
	mu  sync.Mutex
	err error
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *recordingBody) failure() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// maxErrorBody bounds what is held of an error answer; distribution's are
// a few hundred bytes.
const maxErrorBody = 64 << 10

// holdErrors passes every answer below 400 straight through and holds back
// the status and (bounded) body of an error answer until the handler is
// done, so it can be classified and rewritten.
type holdErrors struct {
	w      http.ResponseWriter
	status int
	held   bool
	buf    bytes.Buffer
}

func (h *holdErrors) Header() http.Header { return h.w.Header() }

func (h *holdErrors) WriteHeader(code int) {
	switch {
	case code < 200:
		h.w.WriteHeader(code) // informational: not the answer yet
		return
	case h.status != 0:
		// distribution writes some errors twice (a long repository name);
		// the first status stands.
		if !h.held {
			h.w.WriteHeader(code)
		}
		return
	}
	h.status = code
	if code >= 400 {
		h.held = true
		return
	}
	h.w.WriteHeader(code)
}

func (h *holdErrors) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.WriteHeader(http.StatusOK)
	}
	if !h.held {
		return h.w.Write(p)
	}
	if room := maxErrorBody - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// ReadFrom keeps the underlying writer's fast path (sendfile) for blobs.
func (h *holdErrors) ReadFrom(r io.Reader) (int64, error) {
	if h.status == 0 {
		h.WriteHeader(http.StatusOK)
	}
	if rf, ok := h.w.(io.ReaderFrom); ok && !h.held {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{h}, r)
}

// writerOnly hides ReadFrom from io.Copy, which would call it again.
type writerOnly struct{ io.Writer }

func (h *holdErrors) Flush() {
	if h.status == 0 {
		h.WriteHeader(http.StatusOK)
	}
	if !h.held {
		_ = http.NewResponseController(h.w).Flush()
	}
}

// Unwrap lets http.ResponseController reach deadlines on the connection.
func (h *holdErrors) Unwrap() http.ResponseWriter { return h.w }
