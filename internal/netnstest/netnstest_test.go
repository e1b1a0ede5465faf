package netnstest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNamespace checks what the package promises: loopback only, programs
// run inside, the test process's HTTP client reaches them, lookups of
// names (but not of localhost) are recorded per name of the namespace.
func TestNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a network namespace: not part of the quick checks")
	}
	ns := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("only loopback", func(t *testing.T) {
		out, err := ns.Command("ip", "-o", "link").CombinedOutput()
		if err != nil {
			t.Fatalf("ip link in the namespace: %v: %s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], ": lo:") || !strings.Contains(lines[0], "UP") {
			t.Fatalf("links in the namespace, want lo alone and up:\n%s", out)
		}
		_, err = ns.DialContext(ctx, "tcp", "192.0.2.1:80")
		if !errors.Is(err, syscall.ENETUNREACH) {
			t.Fatalf("dial outside loopback from the namespace: %v, want network is unreachable", err)
		}
		if _, err := ns.DialContext(ctx, "tcp", "example.com:80"); err == nil || !strings.Contains(err.Error(), "only IP addresses") {
			t.Fatalf("dial of a name: %v, want a refusal", err)
		}
	})

	t.Run("HTTP into the namespace", func(t *testing.T) {
		// A server whose socket is in the namespace, served by the test.
		var ln net.Listener
		if err := ns.in(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "inside") })}
		go srv.Serve(ln)
		defer srv.Close()
		resp, err := ns.Client().Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatalf("GET from the namespace's server: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "inside" {
			t.Fatalf("GET from the namespace's server: %s %q", resp.Status, body)
		}
		// The host's loopback is another network: the port is not there.
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
			c.Close()
			t.Fatalf("%s answers outside the namespace too", ln.Addr())
		}
	})

	t.Run("lookups are recorded per name", func(t *testing.T) {
		other := ns.Alias(t, "other")
		getent := func(n *Namespace, name string) {
			t.Helper()
			// getent exits 2 for a name that is not found: expected.
			// getent hosts, not ahosts: getaddrinfo with AI_ADDRCONFIG asks
			// nothing where only loopback has addresses.
			out, err := n.Command("getent", "hosts", name).CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("getent: %v: %s", err, out)
			}
		}
		getent(ns, "localhost")
		// getent hosts asks for IPv6 first: both families, or it asks DNS.
		other.AddHost(t, netip.MustParseAddr("127.0.0.1"), "added.example")
		other.AddHost(t, netip.IPv6Loopback(), "added.example")
		getent(other, "added.example")
		if q := append(ns.Queries(), other.Queries()...); len(q) != 0 {
			t.Fatalf("names in the hosts file were looked up over DNS: %v", q)
		}
		getent(ns, "registry.example.")
		getent(other, "keycloak.example.")
		names := func(qs []Query) []string {
			var s []string
			for _, q := range qs {
				s = append(s, q.Name)
			}
			return s
		}
		if got := names(ns.Queries()); !slices.Contains(got, "registry.example.") || slices.Contains(got, "keycloak.example.") {
			t.Errorf("the namespace's resolver saw %v, want registry.example. alone", got)
		}
		if got := names(other.Queries()); !slices.Contains(got, "keycloak.example.") || slices.Contains(got, "registry.example.") {
			t.Errorf("the alias's resolver saw %v, want keycloak.example. alone", got)
		}
	})
}

func TestGoLookups(t *testing.T) {
	out := `{"msg":"x"}
go package net: confVal.netCgo = false  netGo = true
go package net: hostLookupOrder(localhost) = files,dns
{"msg":"y"}go package net: hostLookupOrder(keycloak.internal) = files,dns
`
	got := GoLookups(out)
	want := []string{"localhost", "keycloak.internal"}
	if !slices.Equal(got, want) {
		t.Fatalf("GoLookups = %v, want %v", got, want)
	}
	if got := GoLookups(`{"msg":"registry-stack listening"}`); len(got) != 0 {
		t.Fatalf("GoLookups of output without lookups = %v", got)
	}
}
