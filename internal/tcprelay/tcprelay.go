// Package tcprelay is a TCP relay a test can cut: the way to take a real
// server (Keycloak) away from one stack without stopping it for the others.
package tcprelay

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

	accepted atomic.Int64
	open     atomic.Int64
	peak     atomic.Int64
	delay    atomic.Int64 // nanoseconds each answer chunk is held
}

// Accepted is how many connections the relay has accepted so far.
func (r *Relay) Accepted() int { return int(r.accepted.Load()) }

// Open is how many connections the client side holds open now (a
// connection counts until its client closes it, even while a late answer
// is still on its way).
func (r *Relay) Open() int { return int(r.open.Load()) }

// Peak is the largest Open since the last ResetPeak.
func (r *Relay) Peak() int { return int(r.peak.Load()) }

// ResetPeak starts a new Peak from the connections open now.
func (r *Relay) ResetPeak() { r.peak.Store(r.open.Load()) }

// SetDelay holds every chunk of the target's answers for d before passing it
// on: a slow server, for as long as d is not zero.
func (r *Relay) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

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
		r.accepted.Add(1)
		open := r.open.Add(1)
		for {
			p := r.peak.Load()
			if open <= p || r.peak.CompareAndSwap(p, open) {
				break
			}
		}
		var pair sync.WaitGroup
		pair.Add(2)
		r.wg.Add(3)
		go func() { defer pair.Done(); r.pipe(out, in, false); r.open.Add(-1) }()
		go func() { defer pair.Done(); r.pipe(in, out, true) }()
		go func() {
			defer r.wg.Done()
			pair.Wait()
			in.Close()
			out.Close()
		}()
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

func (r *Relay) pipe(dst, src net.Conn, answers bool) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(r.delay.Load()); answers && d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
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
