package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/testcert"
)

// wait bounds every wait on the code under test; it is a hang detector, not
// a speed assertion.
const wait = 10 * time.Second

// logCapture is a slog.Handler that keeps messages and lets a test wait for
// one to appear.
type logCapture struct {
	mu     sync.Mutex
	msgs   []string
	notify chan struct{}
}

func newLogCapture() *logCapture { return &logCapture{notify: make(chan struct{}, 1)} }

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, r.Level.String()+" "+r.Message)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *logCapture) has(msg string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if strings.Contains(m, msg) {
			return true
		}
	}
	return false
}

func (c *logCapture) waitFor(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(wait)
	for !c.has(msg) {
		select {
		case <-c.notify:
		case <-timeout:
			t.Fatalf("no log message %q", msg)
		}
	}
}

type server struct {
	addr string
	errc chan error
	stop context.CancelFunc
	log  *logCapture
}

func startServe(t *testing.T, h http.Handler, o ServeOptions) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "base"))
	s := &server{addr: ln.Addr().String(), errc: make(chan error, 1), stop: cancel, log: newLogCapture()}
	if o.Logger == nil {
		o.Logger = slog.New(s.log)
	}
	go func() { s.errc <- Serve(ctx, ln, h, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.errc:
		case <-time.After(wait):
			t.Error("Serve did not return at cleanup")
		}
	})
	return s
}

// stopped cancels Serve's context and returns its result.
func (s *server) stopped(t *testing.T) error {
	t.Helper()
	s.stop()
	select {
	case err := <-s.errc:
		s.errc <- err // for the cleanup
		return err
	case <-time.After(wait):
		t.Fatal("Serve did not return after its context was cancelled")
		return nil
	}
}

type ctxKey struct{}

func hello(w http.ResponseWriter, r *http.Request) {
	v, _ := r.Context().Value(ctxKey{}).(string)
	_, _ = io.WriteString(w, "hello "+v)
}

func get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestServePlainHTTP(t *testing.T) {
	s := startServe(t, http.HandlerFunc(hello), ServeOptions{Grace: time.Second})
	c := &http.Client{Timeout: wait}
	code, body, err := get(t, c, "http://"+s.addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	// Requests see the values of Serve's context.
	if code != 200 || body != "hello base" {
		t.Errorf("got %d %q", code, body)
	}
	if err := s.stopped(t); err != nil {
		t.Errorf("Serve returned %v after a clean stop, want nil", err)
	}
	if !s.log.has("shutting down") {
		t.Error("no shutdown log line")
	}
	c.CloseIdleConnections()
	if _, _, err := get(t, c, "http://"+s.addr+"/"); err == nil {
		t.Error("server still answers after Serve returned")
	}
}

func TestServeErrors(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		ln   func(t *testing.T) net.Listener
		o    ServeOptions
		want string
	}{
		{
			name: "closed listener",
			ln: func(t *testing.T) net.Listener {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ln.Close()
				return ln
			},
			o: ServeOptions{Logger: logger},
		},
		{
			name: "missing certificate",
			ln: func(t *testing.T) net.Listener {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				return ln
			},
			o:    ServeOptions{Logger: logger, CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"},
			want: "/nonexistent/cert.pem",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := tt.ln(t)
			errc := make(chan error, 1)
			// The context is never cancelled: Serve must return on its own.
			go func() { errc <- Serve(context.Background(), ln, http.HandlerFunc(hello), tt.o) }()
			var err error
			select {
			case err = <-errc:
			case <-time.After(wait):
				t.Fatal("Serve did not return")
			}
			if err == nil {
				t.Fatal("Serve returned nil")
			}
			if !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the address and %q", err, tt.want)
			}
		})
	}
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := testcert.Write(t, t.TempDir())
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		hello(w, r)
	})
	s := startServe(t, h, ServeOptions{CertFile: certFile, KeyFile: keyFile, Grace: time.Second})

	trusting := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := trusting.Get("https://" + s.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello base" {
		t.Errorf("HTTPS: %d %q", resp.StatusCode, body)
	}
	if resp.TLS == nil || !resp.TLS.HandshakeComplete {
		t.Error("response did not come over TLS")
	}
	if hits.Load() != 1 {
		t.Fatalf("handler hits = %d, want 1", hits.Load())
	}

	// A client that does not trust the certificate is refused.
	plainClient := &http.Client{Timeout: wait}
	if _, _, err := get(t, plainClient, "https://"+s.addr+"/"); err == nil {
		t.Error("untrusted certificate accepted")
	}
	// Plain HTTP to the TLS port never reaches the handler.
	code, body2, err := get(t, plainClient, "http://"+s.addr+"/")
	if err == nil && code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: %d %q, want an error or 400", code, body2)
	}
	if hits.Load() != 1 {
		t.Errorf("handler hits = %d after non-TLS requests, want 1", hits.Load())
	}
	if err := s.stopped(t); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
}

// blocking is a handler that reports when a request arrives and holds it
// until released.
type blocking struct {
	started chan struct{}
	release chan struct{}
	ctxErr  chan error // the request context's error when released
}

func newBlocking() *blocking {
	return &blocking{started: make(chan struct{}, 1), release: make(chan struct{}), ctxErr: make(chan error, 1)}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.started <- struct{}{}
	<-b.release
	b.ctxErr <- r.Context().Err()
	_, _ = io.WriteString(w, "finished")
}

type result struct {
	code int
	body string
	err  error
}

func (s *server) getAsync(t *testing.T, path string) <-chan result {
	t.Helper()
	out := make(chan result, 1)
	go func() {
		c := &http.Client{Timeout: 2 * wait}
		code, body, err := get(t, c, "http://"+s.addr+path)
		out <- result{code, body, err}
	}()
	return out
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	b := newBlocking()
	// Grace is far longer than the test: the request finishes because it is
	// released, not because time runs out.
	s := startServe(t, b, ServeOptions{Grace: time.Hour})
	res := s.getAsync(t, "/slow")
	recv(t, b.started, "the request to start")

	s.stop()
	s.log.waitFor(t, "shutting down")
	select {
	case err := <-s.errc:
		t.Fatalf("Serve returned %v while a request was in flight within Grace", err)
	default:
	}
	close(b.release)
	if err := recv(t, b.ctxErr, "the handler to finish"); err != nil {
		t.Errorf("in-flight request's context was cancelled by shutdown: %v", err)
	}
	r := recv(t, res, "the response")
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Errorf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	if err := recv(t, s.errc, "Serve to return"); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	s.errc <- nil // for the cleanup
	if s.log.has("grace period over") {
		t.Error("graceful stop logged that the grace period ran out")
	}
}

func TestServeGraceExpires(t *testing.T) {
	b := newBlocking()
	s := startServe(t, b, ServeOptions{Grace: 10 * time.Millisecond})
	defer close(b.release) // the handler outlives Serve; let it go at the end
	res := s.getAsync(t, "/stuck")
	recv(t, b.started, "the request to start")

	// The handler stays blocked: Serve must return anyway once Grace is over.
	if err := s.stopped(t); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if !s.log.has("grace period over") {
		t.Error("no log line about closing remaining connections")
	}
	r := recv(t, res, "the client to see the connection closed")
	if r.err == nil {
		t.Errorf("client got %d %q from a request cut off by shutdown", r.code, r.body)
	}
}

// Routes.Logger may be nil (no access log); ServeOptions.Logger looks just
// as optional, so Serve should not crash without one.
func TestServeNilLogger(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errc := make(chan error, 1)
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		errc <- Serve(ctx, ln, http.HandlerFunc(hello), ServeOptions{})
	}()
	if p := recv(t, panicked, "Serve to return"); p != nil {
		t.Fatalf("Serve panics with a nil ServeOptions.Logger: %v", p)
	}
	if err := <-errc; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
}

// TestServeDrainsBeforeClosing checks the order orchestrators rely on:
// once shutdown starts, /readyz answers 503 while new connections are still
// served for DrainDelay; then new connections are refused while an
// in-flight request gets its grace; then Serve returns nil.
func TestServeDrainsBeforeClosing(t *testing.T) {
	b := newBlocking()
	h := NewHandler(Routes{UI: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			b.ServeHTTP(w, r)
			return
		}
		hello(w, r)
	})})
	// The drain is long enough for the few requests made during it; the
	// grace is far longer than the test, so the in-flight request ends
	// because it is released.
	s := startServe(t, h, ServeOptions{DrainDelay: 2 * time.Second, Grace: time.Hour})
	fresh := func() *http.Client {
		return &http.Client{Timeout: wait, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	base := "http://" + s.addr
	if code, body, err := get(t, fresh(), base+"/readyz"); err != nil || code != 200 {
		t.Fatalf("/readyz before shutdown: %d %q %v", code, body, err)
	}
	inFlight := s.getAsync(t, "/slow")
	recv(t, b.started, "the in-flight request to start")

	s.stop()
	s.log.waitFor(t, "draining")
	code, body, err := get(t, fresh(), base+"/readyz")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("/readyz while draining: %d %q %v; want 503 saying it is draining", code, body, err)
	}
	if code, body, err := get(t, fresh(), base+"/"); err != nil || code != 200 || body != "hello base" {
		t.Errorf("new connection while draining: %d %q %v; want it served", code, body, err)
	}
	if code, _, err := get(t, fresh(), base+"/healthz"); err != nil || code != 200 {
		t.Errorf("/healthz while draining: %d %v; the process is alive, want 200", code, err)
	}
	resp, err := (&http.Client{Timeout: wait}).Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Error("answer while draining lets the client keep its connection; want Connection: close")
	}
	if s.log.has("stopped accepting") {
		t.Fatal("stopped accepting before the requests made during the drain were done: drain too short for this machine?")
	}

	s.log.waitFor(t, "stopped accepting")
	if c, err := net.DialTimeout("tcp", s.addr, wait); err == nil {
		c.Close()
		t.Error("a new connection was accepted after the drain")
	}
	select {
	case err := <-s.errc:
		t.Fatalf("Serve returned %v while a request was in flight within the grace", err)
	default:
	}
	close(b.release)
	if r := recv(t, inFlight, "the in-flight response"); r.err != nil || r.code != 200 || r.body != "finished" {
		t.Errorf("in-flight request: %d %q %v; want it finished within the grace", r.code, r.body, r.err)
	}
	if err := recv(t, s.errc, "Serve to return"); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	s.errc <- nil // for the cleanup
	s.log.waitFor(t, "all requests finished")
}
