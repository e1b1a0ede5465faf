package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestListenBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ln, err := Listen(context.Background(), busy.Addr().String())
	if err == nil {
		ln.Close()
		t.Fatal("Listen on a busy port succeeded")
	}
	var le *ListenError
	if !errors.As(err, &le) || le.Addr != busy.Addr().String() {
		t.Fatalf("err = %#v, want a *ListenError for %s", err, busy.Addr())
	}
	if want := "listen " + busy.Addr().String() + ": address already in use"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestPublicURL(t *testing.T) {
	tests := []struct {
		name, listen, configured string
		tls                      bool
		want                     string // "PORT" is replaced by the bound port
	}{
		{"configured wins", "127.0.0.1:0", "https://registry.example.com", false, "https://registry.example.com"},
		{"loopback", "127.0.0.1:0", "", false, "http://127.0.0.1:PORT"},
		{"tls", "127.0.0.1:0", "", true, "https://127.0.0.1:PORT"},
		{"all interfaces", ":0", "", false, "http://localhost:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := Listen(context.Background(), tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			want := strings.ReplaceAll(tt.want, "PORT", port)
			if got := PublicURL(tt.configured, tt.tls, ln); got != want {
				t.Errorf("PublicURL = %q, want %q", got, want)
			}
		})
	}
}
