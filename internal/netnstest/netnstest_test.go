package netnstest

import (
	"context"
	"errors"
	"io"
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
		// A server in the namespace: python's, run through Command.
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not available")
		}
		cmd := ns.Command("python3", "-m", "http.server", "--bind", "127.0.0.1", "18080", "--directory", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		client := ns.Client()
		var resp *http.Response
		var err error
		for range 100 {
			if resp, err = client.Get("http://127.0.0.1:18080/"); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("GET from the namespace's server: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
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
