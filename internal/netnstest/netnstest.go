// Package netnstest gives a test a network namespace with nothing in it but
// loopback, so it can show that programs run inside need no network: a
// connection to anything but 127.0.0.0/8 or ::1 fails there with "network
// is unreachable".
//
// A Namespace is created with `ip netns add` and deleted when the test
// ends. Programs run inside it through `ip netns exec NAME` (Prefix,
// Command); the test process reaches them with DialContext, Transport and
// Client, which open each socket from a thread moved into the namespace.
//
// Name lookups are recorded. `ip netns exec` shows its programs the files
// of /etc/netns/NAME in place of /etc's, so inside, resolv.conf names a
// resolver the test runs on port 53 (UDP and TCP) of a loopback address in
// the namespace, which records every query and answers NXDOMAIN; hosts
// names only localhost; nsswitch.conf says "hosts: files dns". Alias gives
// the same namespace another name with a resolver of its own, so the
// lookups of two programs (a server and what it talks to) are counted
// apart. GoResolverEnv makes a Go program use Go's own resolver, which
// reads those files, and print every name it looks up, including those
// answered from hosts, which no resolver sees (GoLookups reads them back).
//
// A C program that resolves with getaddrinfo's AI_ADDRCONFIG (as getent
// ahosts does) asks no resolver at all where only loopback has an
// address: such a lookup fails unrecorded. A name a C program finds in
// hosts is not recorded either.
//
// What it proves: a program that served and answered while in the
// namespace reached nothing beyond loopback, and one whose resolver
// recorded no query resolved no name over DNS (through the C library or
// Go's resolver, the two that read resolv.conf). What it does not prove:
// that a program with a resolver of its own that ignores resolv.conf made
// no attempt (such an attempt still fails: nothing is reachable), or that
// code paths the test did not exercise need no network.
package netnstest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/registry-stack/registry-stack/internal/testenv"
)

// GoResolverEnv, in a Go program's environment, makes it use Go's own
// resolver (which reads resolv.conf, hosts and nsswitch.conf, so the
// namespace's files apply) and print a line "go package net:
// hostLookupOrder(NAME) = ..." to stderr for every name it looks up.
const GoResolverEnv = "GODEBUG=netdns=go+2"

// Namespace is a network namespace with only loopback up, under one name
// in /run/netns, with the resolver its programs see.
type Namespace struct {
	Name string
	path string
	dns  *resolver
	// addrs hands out the loopback addresses of the resolvers of a
	// namespace and its aliases; shared by all of them.
	addrs *addrPool
}

// New creates a namespace for the test and deletes it when the test ends.
// It needs root (with CAP_SYS_ADMIN) and iproute2's ip; without them the
// test is skipped (and fails under CI=true). It changes /run/netns and
// /etc/netns, so tests using it skip under -short (the quick checks).
func New(t testing.TB) *Namespace {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (to create a network namespace)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Missing(t, "ip from iproute2 (scripts/deps.sh installs it)")
	}
	name := "rs-test-" + randomHex(t)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		// Root without CAP_SYS_ADMIN, as in an unprivileged container.
		testenv.Missing(t, fmt.Sprintf("a network namespace (ip netns add: %v: %s)", err, strings.TrimSpace(string(out))))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	n := &Namespace{Name: name, path: filepath.Join("/run/netns", name), addrs: &addrPool{next: 1}}
	n.serveDNS(t)
	return n
}

// Alias gives the namespace a second name, NAME-label: the same network
// (one loopback, so its programs and the namespace's reach each other)
// with a resolver of its own, whose queries are recorded apart. Its
// DialContext, Transport and Client are the namespace's.
func (n *Namespace) Alias(t testing.TB, label string) *Namespace {
	t.Helper()
	a := &Namespace{Name: n.Name + "-" + label, addrs: n.addrs}
	a.path = filepath.Join("/run/netns", a.Name)
	// What `ip netns attach` does for a process's namespace: bind the
	// namespace file to a second name.
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		t.Fatalf("create %s: %v", a.path, err)
	}
	f.Close()
	if err := unix.Mount(n.path, a.path, "", unix.MS_BIND, ""); err != nil {
		os.Remove(a.path)
		t.Fatalf("bind %s to %s: %v", n.path, a.path, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(a.path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", a.path, err)
		}
		if err := os.Remove(a.path); err != nil {
			t.Errorf("remove %s: %v", a.path, err)
		}
	})
	a.serveDNS(t)
	return a
}

// AddHost maps names to ip in the hosts file of the programs started from
// now on through this name of the namespace (a machine's own host name,
// which some programs look up at start, belongs there).
func (n *Namespace) AddHost(t testing.TB, ip netip.Addr, names ...string) {
	t.Helper()
	path := filepath.Join("/etc/netns", n.Name, "hosts")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s %s\n", ip, strings.Join(names, " "))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("add %v to %s: %v", names, path, err)
	}
}

// Prefix is the command a program runs under to run in the namespace; it
// execs the program in its own place, so signals reach the program.
func (n *Namespace) Prefix() []string { return []string{"ip", "netns", "exec", n.Name} }

// Command is exec.Command for name and args run in the namespace.
func (n *Namespace) Command(name string, args ...string) *exec.Cmd {
	p := n.Prefix()
	return exec.Command(p[0], append(append(p[1:], name), args...)...)
}

// Queries are the DNS queries the namespace's resolver has received so
// far, in order.
func (n *Namespace) Queries() []Query { return n.dns.queries() }

// ResolverAddr is the loopback address of the namespace's resolver (port
// 53), the one its resolv.conf names.
func (n *Namespace) ResolverAddr() netip.Addr { return n.dns.addr }

// in runs f on an OS thread moved into the namespace. The thread stays
// locked to f's goroutine and ends with it, so nothing else ever runs on a
// thread in the namespace; the sockets f opens stay in the namespace for
// their whole life, whichever thread uses them later.
func (n *Namespace) in(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends a thread whose goroutine
		// exits locked, instead of reusing it elsewhere.
		fd, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open network namespace %s: %w", n.path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", n.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// DialContext opens a connection from inside the namespace. addr must
// hold an IP address: the test process never resolves a name either.
func (n *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netnstest: dial %q: %w", addr, err)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return nil, fmt.Errorf("netnstest: dial %q: only IP addresses are dialled in the namespace, not names", addr)
	}
	var c net.Conn
	err = n.in(func() (err error) {
		d := net.Dialer{Timeout: 30 * time.Second}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Transport is an HTTP transport that connects from inside the namespace
// and never uses a proxy (the test process's proxy settings name hosts
// outside it).
func (n *Namespace) Transport() *http.Transport {
	return &http.Transport{
		DialContext:           n.DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
}

// Client is an HTTP client on Transport, with an overall timeout.
func (n *Namespace) Client() *http.Client {
	return &http.Client{Transport: n.Transport(), Timeout: 5 * time.Minute}
}

// GoLookups returns the names a Go program run with GoResolverEnv looked
// up, read from its output, in order (repeats included).
func GoLookups(output string) []string {
	const marker = "go package net: hostLookupOrder("
	var names []string
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for {
			i := strings.Index(line, marker)
			if i < 0 {
				break
			}
			line = line[i+len(marker):]
			if j := strings.Index(line, ")"); j >= 0 {
				names = append(names, line[:j])
			}
		}
	}
	return names
}

// addrPool hands out 127.0.0.1, 127.0.0.2, ...: one resolver address per
// name of a namespace.
type addrPool struct {
	mu   sync.Mutex
	next byte
}

func (p *addrPool) take() netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := netip.AddrFrom4([4]byte{127, 0, 0, p.next})
	p.next++
	return a
}

// etcFiles writes /etc/netns/NAME, which `ip netns exec NAME` mounts over
// /etc's files of the same names, and removes it when the test ends.
func (n *Namespace) etcFiles(t testing.TB, resolverAddr netip.Addr) {
	t.Helper()
	dir := filepath.Join("/etc/netns", n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	nsswitch := "hosts: files dns\n"
	// Keep the machine's other databases (users, groups) as they are.
	if host, err := os.ReadFile("/etc/nsswitch.conf"); err == nil {
		var b strings.Builder
		for _, line := range strings.SplitAfter(string(host), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == "hosts:" {
				continue
			}
			b.WriteString(line)
		}
		nsswitch = strings.TrimRight(b.String(), "\n") + "\n" + nsswitch
	}
	for file, content := range map[string]string{
		"resolv.conf":   "nameserver " + resolverAddr.String() + "\n",
		"hosts":         "127.0.0.1 localhost\n::1 localhost\n",
		"nsswitch.conf": nsswitch,
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatalf("write %s: %v", filepath.Join(dir, file), err)
		}
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
