package keycloak

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientReusesConnectionsAndNeverRedirects(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(strings.Repeat("x", 8<<10))) // an answer the caller does not read
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	client := NewClient(NewTransport(time.Second), time.Second)
	for range 20 {
		resp, err := client.Get(srv.URL + "/token")
		if err != nil {
			t.Fatal(err)
		}
		DrainClose(resp.Body)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential calls whose answers were drained used %d connections, want 1", n)
	}
	resp, err := client.Get(srv.URL + "/moved")
	if err != nil {
		t.Fatal(err)
	}
	DrainClose(resp.Body)
	if resp.StatusCode != http.StatusFound {
		t.Errorf("a redirect answered %d to the caller, want the 302 itself (never followed)", resp.StatusCode)
	}
}

func TestTransportBounds(t *testing.T) {
	tr := NewTransport(0)
	if tr.MaxConnsPerHost != MaxConnsPerHost || tr.MaxIdleConnsPerHost != MaxIdleConnsPerHost {
		t.Errorf("transport bounds %d/%d, want %d/%d", tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, MaxConnsPerHost, MaxIdleConnsPerHost)
	}
	if tr.ResponseHeaderTimeout != defaultHTTPTimeout {
		t.Errorf("a zero timeout gave a response header timeout of %s, want the default %s", tr.ResponseHeaderTimeout, defaultHTTPTimeout)
	}
}
