package endpoint

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		ref      string
		insecure bool
		want     string // ref.Name(), "" for an error
		scheme   string
	}{
		{"127.0.0.1:5000/team/app:1.0", false, "127.0.0.1:5000/team/app:1.0", "http"},
		{"registry.lab:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false, "registry.lab:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "https"},
		{"registry.lab/app:1", true, "registry.lab/app:1", "http"},
		{"localhost:5000/app:1", false, "localhost:5000/app:1", "http"},
		{"team/app:1.0", false, "", ""}, // no registry: never guess Docker Hub
		{"app", false, "", ""},
		{"registry.lab/App:1", false, "", ""},
		{"registry.lab/app", false, "", ""}, // strict: a tag or digest is required
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			ref, err := Endpoint{Insecure: tt.insecure}.ParseReference(tt.ref)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", ref)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ref.Name() != tt.want || ref.Context().Scheme() != tt.scheme {
				t.Errorf("got %s over %s, want %s over %s", ref.Name(), ref.Context().Scheme(), tt.want, tt.scheme)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	for _, host := range []string{"", "a/b", "a@b", "bad host"} {
		if _, err := (Endpoint{}).Registry(host); err == nil {
			t.Errorf("Registry(%q): want an error", host)
		}
	}
	reg, err := Endpoint{Insecure: true}.Registry("registry.lab:5000")
	if err != nil || reg.Scheme() != "http" {
		t.Errorf("Registry: %v, scheme %s; want http for --insecure", err, reg.Scheme())
	}
}

func TestTransportTimeouts(t *testing.T) {
	tr := Endpoint{Insecure: true}.Transport()
	if tr.TLSHandshakeTimeout == 0 || tr.ResponseHeaderTimeout == 0 || tr.DialContext == nil {
		t.Errorf("transport without timeouts: %+v", tr)
	}
	if tr.TLSClientConfig == nil || !tr.TLSClientConfig.InsecureSkipVerify {
		t.Error("--insecure must skip certificate checks")
	}
	if tr := (Endpoint{}).Transport(); tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify {
		t.Error("certificate checks skipped without --insecure")
	}
}

// stallingRegistry is a fault injector: it sends a blob's headers and first
// bytes, then nothing, as a registry stuck on its storage would.
func stallingRegistry(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1048576")
		_, _ = w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		<-release
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

func TestIdleBodyIsCut(t *testing.T) {
	srv := stallingRegistry(t)
	client := &http.Client{Transport: Endpoint{Idle: 200 * time.Millisecond}.Transport()}
	resp, err := client.Get(srv.URL + "/v2/team/app/blobs/sha256:x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		done <- err
	}()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("reading a stalled body: %v, want a timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a stalled body was not cut")
	}
}

func TestStringHidesPassword(t *testing.T) {
	ep := Endpoint{Username: "robot", Password: "s3cret-value"}
	for _, s := range []string{ep.String(), fmt.Sprint(ep), fmt.Sprintf("%v", ep)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("%q shows the password", s)
		}
	}
}

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	tests := []struct {
		url     string
		refused bool
	}{
		{"http://10.1.2.3:5000/v2/", true},
		{"http://192.168.1.5/v2/", true},
		{"http://registry.lab/v2/", true},
		{"http://127.0.0.1/v2/", false},
		{"http://[::1]/v2/", false},
		{"http://localhost/v2/", false},
		{"https://10.1.2.3:5000/v2/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			// The guard decides before anything is sent; what is let through
			// goes to a recorder instead of the network.
			var sent bool
			g := plainHTTPGuard{roundTripFunc(func(*http.Request) (*http.Response, error) {
				sent = true
				return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
			})}
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			_, err := g.RoundTrip(req)
			if (err != nil) != tt.refused || sent == tt.refused {
				t.Errorf("err %v, sent %v; want refused %v", err, sent, tt.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "--insecure") {
				t.Errorf("the refusal does not say how to allow it: %v", err)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
