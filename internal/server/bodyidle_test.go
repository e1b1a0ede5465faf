package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/testcert"
)

// idle is the body idle timeout of these tests: short, so a stall is cut
// quickly; the steady senders below send far more often than this.
const idle = 200 * time.Millisecond

// bodyResult is what the test handler saw of a request body.
type bodyResult struct {
	n       int
	err     error
	elapsed time.Duration // from the first byte read to the end of the body
	ctxErr  error         // the request context's error when the handler finished
}

// readingHandler reads the whole body, then waits hold (work done after the
// body, e.g. verifying a digest), and reports what it saw.
func readingHandler(hold time.Duration, out chan<- bodyResult) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var res bodyResult
		buf := make([]byte, 1)
		var start time.Time
		for {
			n, err := r.Body.Read(buf)
			if res.n == 0 && n > 0 {
				start = time.Now()
			}
			res.n += n
			if err != nil {
				if !errors.Is(err, io.EOF) {
					res.err = err
				}
				break
			}
		}
		res.elapsed = time.Since(start)
		time.Sleep(hold)
		res.ctxErr = r.Context().Err()
		out <- res
		if res.err != nil {
			http.Error(w, "body read failed", http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
}

// transports are the ways a client reaches Serve: the idle deadline is the
// connection's (HTTP/1.1) or the stream's (HTTP/2), and TLS sits between.
type transport struct {
	name  string
	tls   bool
	http2 bool
}

var transports = []transport{
	{"http/1.1", false, false},
	{"https http/1.1", true, false},
	{"https h2", true, true},
}

// startIdleServe runs Serve with BodyIdleTimeout idle over tr and returns
// the server and a client for it.
func startIdleServe(t *testing.T, tr transport, h http.Handler) (*server, *http.Client, string) {
	t.Helper()
	o := ServeOptions{Grace: time.Second, BodyIdleTimeout: idle}
	client := &http.Client{Timeout: wait}
	scheme := "http"
	if tr.tls {
		scheme = "https"
		certFile, keyFile, pool := testcert.Write(t, t.TempDir())
		o.CertFile, o.KeyFile = certFile, keyFile
		rt := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		if tr.http2 {
			rt.ForceAttemptHTTP2 = true
		} else {
			rt.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		client.Transport = rt
	}
	s := startServe(t, h, o)
	return s, client, scheme + "://" + s.addr + "/"
}

// post sends body and returns the response's protocol and status, or the
// error the client saw.
func post(client *http.Client, url string, body io.Reader) (proto string, status int, err error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return "", 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Proto, resp.StatusCode, nil
}

// stalled sends head, then nothing until the test ends.
func stalled(t *testing.T, head string) io.Reader {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = io.WriteString(pw, head) }()
	return pr
}

// trickle sends n bytes, one every gap: slow, but never silent for idle.
type trickle struct {
	n   int
	gap time.Duration
}

func (s *trickle) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.gap)
	s.n--
	p[0] = 'x'
	return 1, nil
}

func TestBodyIdleCutsAStalledBody(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			got := make(chan bodyResult, 1)
			s, client, url := startIdleServe(t, tr, readingHandler(0, got))
			start := time.Now()
			proto, status, err := post(client, url, stalled(t, "hello"))
			res := recv(t, got, "the handler to see the body fail")
			if !errors.Is(res.err, os.ErrDeadlineExceeded) || !strings.Contains(res.err.Error(), "http.body_idle_timeout") {
				t.Fatalf("handler's read error = %v, want one wrapping os.ErrDeadlineExceeded that names http.body_idle_timeout", res.err)
			}
			if res.n != 5 {
				t.Errorf("handler read %d bytes before the cut, want the 5 sent", res.n)
			}
			if d := time.Since(start); d < idle {
				t.Errorf("body cut after %s, before the idle timeout %s", d, idle)
			}
			// The client either gets the handler's answer or sees the
			// connection go; it never waits for more of its own body.
			if err == nil && status != http.StatusBadRequest {
				t.Errorf("client got %s %d, want the handler's 400 or a connection error", proto, status)
			}
			if tr.http2 && err == nil && proto != "HTTP/2.0" {
				t.Errorf("answer over %s, want HTTP/2.0", proto)
			}
			s.log.waitFor(t, "request body cut")
		})
	}
}

func TestBodyIdleLetsASteadySlowBodyThrough(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			got := make(chan bodyResult, 1)
			// Held past the idle timeout after the body: work after the body
			// (a digest check, a call to Keycloak) must not be cut either.
			s, client, url := startIdleServe(t, tr, readingHandler(3*idle, got))
			body := &trickle{n: 25, gap: idle / 10}
			_, status, err := post(client, url, body)
			if err != nil || status != http.StatusOK {
				t.Fatalf("steady slow body: status %d, err %v; want 200", status, err)
			}
			res := recv(t, got, "the handler's result")
			if res.err != nil || res.n != 25 {
				t.Fatalf("handler read %d bytes, err %v; want all 25 and no error", res.n, res.err)
			}
			if res.elapsed < 2*idle {
				t.Fatalf("the body took %s, not longer than the idle timeout: the test proves nothing", res.elapsed)
			}
			if res.ctxErr != nil {
				t.Errorf("request context cancelled after the body was read: %v", res.ctxErr)
			}
			if s.log.has("request body cut") {
				t.Error("a steady body was logged as cut")
			}
		})
	}
}

// A handler that never reads the body (an early 401, say) is not hurried.
func TestBodyIdleLeavesUnreadBodiesAlone(t *testing.T) {
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * idle)
		done <- r.Context().Err()
		w.WriteHeader(http.StatusUnauthorized)
	})
	s, client, url := startIdleServe(t, transports[0], h)
	_, status, err := post(client, url, strings.NewReader("credentials first"))
	if err != nil || status != http.StatusUnauthorized {
		t.Fatalf("status %d, err %v; want the handler's 401", status, err)
	}
	if err := recv(t, done, "the handler"); err != nil {
		t.Errorf("request context cancelled while the handler ignored the body: %v", err)
	}
	if s.log.has("request body cut") {
		t.Error("an unread body was logged as cut")
	}
}

// After a cut, HTTP/1.1 closes the connection: the unread rest of the body
// must never be read as the next request, and a stalled client must not
// keep the connection. Raw requests, so nothing in a client hides it.
func TestBodyIdleClosesTheConnection(t *testing.T) {
	tests := []struct{ name, request string }{
		{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello"},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan bodyResult, 1)
			s, _, _ := startIdleServe(t, transports[0], readingHandler(0, got))
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer after the cut: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("answer %d, want the handler's 400", resp.StatusCode)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("after the answer: %v, want the server to close the connection (EOF)", err)
			}
			if res := recv(t, got, "the handler"); res.err == nil {
				t.Error("the handler's read did not fail")
			}
		})
	}
}

// The access log line of a request whose body was cut says why.
func TestBodyIdleShowsInTheAccessLog(t *testing.T) {
	l, buf := jsonLogger(slog.LevelInfo)
	got := make(chan bodyResult, 1)
	_, client, url := startIdleServe(t, transports[0], AccessLog(l, readingHandler(0, got)))
	_, _, _ = post(client, url+"auth/token", stalled(t, "grant_type=pass"))
	recv(t, got, "the handler")
	var line map[string]any
	for deadline := time.Now().Add(wait); line == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, m := range buf.lines(t) {
			if m["msg"] == "request" {
				line = m
			}
		}
	}
	if line == nil {
		t.Fatal("no access log line")
	}
	if line["path"] != "/auth/token" || line["status"] != float64(http.StatusBadRequest) ||
		!strings.Contains(fmt.Sprint(line["cut"]), "http.body_idle_timeout") {
		t.Errorf("access log line %v; want path /auth/token, status 400 and cut naming http.body_idle_timeout", line)
	}
}

// Without the server's writer no deadline can be set: the body is read
// as it is, never failed for that.
func TestBodyIdleWithoutDeadlinesPassesThrough(t *testing.T) {
	var got []byte
	var readErr error
	h := BodyIdle(idle, nil, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got, readErr = io.ReadAll(r.Body)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader("layer bytes")))
	if readErr != nil || string(got) != "layer bytes" {
		t.Errorf("read %q, %v; want the body and no error", got, readErr)
	}
}

type plainHandler struct{}

func (*plainHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

func TestBodyIdleZeroIsOff(t *testing.T) {
	h := &plainHandler{}
	if got := BodyIdle(0, nil, h); got != http.Handler(h) {
		t.Errorf("BodyIdle(0) = %T, want the handler unchanged: 0 disables it", got)
	}
}

// BenchmarkBodyIdleUpload measures what renewing the deadline costs a fast
// upload over loopback: compare idle=off with idle=60s (MB/s).
func BenchmarkBodyIdleUpload(b *testing.B) {
	const size = 64 << 20
	for _, bc := range []struct {
		name string
		idle time.Duration
	}{{"idle=off", 0}, {"idle=60s", 60 * time.Second}} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
			go func() { errc <- Serve(ctx, ln, h, ServeOptions{BodyIdleTimeout: bc.idle, Grace: time.Second}) }()
			defer func() { cancel(); <-errc }()
			chunk := make([]byte, 1<<20)
			client := &http.Client{}
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				pr, pw := io.Pipe()
				go func() {
					for i := 0; i < size/len(chunk); i++ {
						if _, err := pw.Write(chunk); err != nil {
							return
						}
					}
					pw.Close()
				}()
				resp, err := client.Post("http://"+ln.Addr().String()+"/", "application/octet-stream", pr)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}
