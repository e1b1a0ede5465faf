package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a log handler writing from server
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines decodes the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func jsonLogger(level slog.Level) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

func TestAccessLogNilLogger(t *testing.T) {
	h := &stub{name: "next"}
	if got := AccessLog(nil, h); got != http.Handler(h) {
		t.Errorf("AccessLog(nil, h) = %T, want h itself", got)
	}
}

func TestAccessLogFields(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string
		handler    http.HandlerFunc
		wantStatus float64
		wantBytes  float64
	}{
		{
			name: "status and body", method: "POST", target: "/api/things",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, "hello")
			},
			wantStatus: 201, wantBytes: 5,
		},
		{
			name: "implicit 200", method: "GET", target: "/index.html",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "abc")
				_, _ = io.WriteString(w, "defg")
			},
			wantStatus: 200, wantBytes: 7,
		},
		{
			name: "nothing written", method: "HEAD", target: "/",
			handler:    func(http.ResponseWriter, *http.Request) {},
			wantStatus: 200, wantBytes: 0,
		},
		{
			name: "first WriteHeader counts", method: "DELETE", target: "/x",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				w.WriteHeader(http.StatusInternalServerError)
			},
			wantStatus: 404, wantBytes: 0,
		},
		{
			name: "WriteHeader after Write is ignored", method: "GET", target: "/y",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "x")
				w.WriteHeader(http.StatusTeapot)
			},
			wantStatus: 200, wantBytes: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := jsonLogger(slog.LevelInfo)
			req := httptest.NewRequest(tt.method, tt.target, nil)
			req.RemoteAddr = "192.0.2.7:41000"
			w := httptest.NewRecorder()
			AccessLog(l, tt.handler).ServeHTTP(w, req)
			lines := buf.lines(t)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1: %s", len(lines), buf)
			}
			got := lines[0]
			want := map[string]any{
				"level": "INFO", "msg": "request", "method": tt.method, "path": tt.target,
				"status": tt.wantStatus, "bytes": tt.wantBytes, "remote": "192.0.2.7:41000",
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if _, ok := got["duration"].(float64); !ok {
				t.Errorf("duration = %v, want a number", got["duration"])
			}
			if float64(w.Code) != tt.wantStatus {
				t.Errorf("client got %d, log says %v", w.Code, tt.wantStatus)
			}
		})
	}
}

func TestAccessLogRedactsCredentials(t *testing.T) {
	const (
		basic  = "dXNlcjpodW50ZXIy" // user:hunter2
		bearer = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
	)
	secrets := []string{basic, bearer, "hunter2", "eyJ", "s3ss10n", "password", "access_token", "Authorization", "Cookie"}
	tests := []struct {
		name   string
		target string
		header http.Header
	}{
		{"basic auth and query password", "/auth/realms/r/protocol/docker-v2/auth?service=registry&password=hunter2", http.Header{"Authorization": {"Basic " + basic}}},
		{"bearer and cookie", "/login?access_token=" + bearer, http.Header{"Authorization": {"Bearer " + bearer}, "Cookie": {"KEYCLOAK_SESSION=s3ss10n"}}},
		{"proxy authorization", "/ui?password=hunter2", http.Header{"Proxy-Authorization": {"Basic " + basic}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := jsonLogger(slog.LevelDebug)
			req := httptest.NewRequest("GET", tt.target, nil)
			req.Header = tt.header
			h := AccessLog(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
			}))
			h.ServeHTTP(httptest.NewRecorder(), req)
			out := buf.String()
			lines := buf.lines(t)
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1: %s", len(lines), out)
			}
			wantPath := strings.SplitN(tt.target, "?", 2)[0]
			if lines[0]["path"] != wantPath {
				t.Errorf("path = %v, want %s", lines[0]["path"], wantPath)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("log contains %q: %s", s, out)
				}
			}
		})
	}
}

func TestAccessLogLevelsAndSkips(t *testing.T) {
	tests := []struct {
		path      string
		wantLevel string // "" = not logged by the access log at all
	}{
		{"/v2/", ""},
		{"/v2", ""},
		{"/v2/a/b/manifests/latest", ""},
		{"/v2/_catalog", ""},
		{"/healthz", "DEBUG"},
		{"/readyz", "DEBUG"},
		{"/metrics", "DEBUG"},
		{"/", "INFO"},
		{"/v2foo", "INFO"}, // not the API
		{"/auth/realms/r/protocol/docker-v2/auth", "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
				l, buf := jsonLogger(level)
				next := &stub{name: "next"}
				w := httptest.NewRecorder()
				AccessLog(l, next).ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
				if next.count() != 1 || w.Body.String() != "next" {
					t.Fatalf("next handler not served (hits %d, body %q)", next.count(), w.Body)
				}
				lines := buf.lines(t)
				wantLines := 1
				if tt.wantLevel == "" || (tt.wantLevel == "DEBUG" && level == slog.LevelInfo) {
					wantLines = 0
				}
				if len(lines) != wantLines {
					t.Fatalf("logger at %v: %d lines, want %d: %s", level, len(lines), wantLines, buf)
				}
				if wantLines == 1 && lines[0]["level"] != tt.wantLevel {
					t.Errorf("level = %v, want %s", lines[0]["level"], tt.wantLevel)
				}
			}
		})
	}
}

// writerWithDeadline stands in for a connection-backed ResponseWriter that
// supports features the recorder does not implement itself.
type writerWithDeadline struct {
	*httptest.ResponseRecorder
	deadline time.Time
}

func (w *writerWithDeadline) SetWriteDeadline(t time.Time) error {
	w.deadline = t
	return nil
}

func TestAccessLogPassThrough(t *testing.T) {
	l, _ := jsonLogger(slog.LevelInfo)

	t.Run("Flusher", func(t *testing.T) {
		rec := httptest.NewRecorder()
		AccessLog(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			f, ok := w.(http.Flusher)
			if !ok {
				t.Fatal("wrapped writer is not an http.Flusher")
			}
			f.Flush()
		})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if !rec.Flushed {
			t.Error("Flush did not reach the underlying writer")
		}
	})
	t.Run("ResponseController Flush", func(t *testing.T) {
		rec := httptest.NewRecorder()
		AccessLog(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
		})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if !rec.Flushed {
			t.Error("Flush did not reach the underlying writer")
		}
	})
	t.Run("ResponseController Unwrap", func(t *testing.T) {
		under := &writerWithDeadline{ResponseRecorder: httptest.NewRecorder()}
		want := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		AccessLog(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if err := http.NewResponseController(w).SetWriteDeadline(want); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
		})).ServeHTTP(under, httptest.NewRequest("GET", "/", nil))
		if !under.deadline.Equal(want) {
			t.Errorf("underlying deadline = %v, want %v", under.deadline, want)
		}
	})
}

// Through a real server: a flushed chunk reaches the client while the
// handler is still running, and a handler can hijack the connection.
func TestAccessLogStreamingAndHijack(t *testing.T) {
	l, buf := jsonLogger(slog.LevelInfo)
	firstRead := make(chan struct{})
	logged := make(chan string, 2) // paths whose access log line is written
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			_, _ = io.WriteString(w, "first\n")
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			select {
			case <-firstRead:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "second\n")
		case "/hijack":
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nhijack!")
			_ = rw.Flush()
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		AccessLog(l, inner).ServeHTTP(w, r)
		logged <- r.URL.Path
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first chunk = %q, %v", first, err)
	}
	close(firstRead) // the handler is still blocked until now
	rest, err := io.ReadAll(br)
	resp.Body.Close()
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest = %q, %v", rest, err)
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	if string(body) != "hijack!" {
		t.Errorf("hijacked body = %q", body)
	}
	for range 2 {
		select {
		case <-logged:
		case <-time.After(10 * time.Second):
			t.Fatal("handlers did not finish")
		}
	}
	var paths []string
	for _, line := range buf.lines(t) {
		paths = append(paths, fmt.Sprint(line["path"], " ", line["bytes"]))
	}
	if got := strings.Join(paths, ","); got != "/stream 13,/hijack 0" {
		t.Errorf("logged %q", got)
	}
}
