// Package tcprelay is a TCP relay a test can cut: the way to take a real
// server (Keycloak) away from one stack without stopping it for the others.
package tcprelay

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Relay is a TCP relay in front of a real server that a test can cut: the
// way to take a real Keycloak away from one stack without stopping it for
// the other tests. It injects a network failure; it answers nothing itself.
type Relay struct {
	URL string // http://127.0.0.1:<port>

	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
	wg     sync.WaitGroup
}

// New relays connections to target (host:port) until Cut or the end
// of the test.
func New(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{URL: "http://" + ln.Addr().String(), ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.Cut)
	return r
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", r.target)
		if err != nil {
			in.Close()
			continue
		}
		if !r.track(in, out) {
			return
		}
		r.wg.Add(2)
		go r.pipe(out, in)
		go r.pipe(in, out)
	}
}

func (r *Relay) track(conns ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cut {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	r.conns = append(r.conns, conns...)
	return true
}

func (r *Relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	// Half-close so the other direction can finish its answer.
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// Cut closes the listener and every relayed connection: new connections are
// refused, open ones are reset.
func (r *Relay) Cut() {
	r.mu.Lock()
	if r.cut {
		r.mu.Unlock()
		return
	}
	r.cut = true
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	r.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	r.wg.Wait()
}
