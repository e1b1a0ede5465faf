package netnstest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Query is one DNS question the namespace's resolver received.
type Query struct {
	Network string // udp or tcp
	Name    string // as asked, with the trailing dot
	Type    string // A, AAAA, ...
}

func (q Query) String() string { return fmt.Sprintf("%s %s over %s", q.Type, q.Name, q.Network) }

// resolver is the namespace's DNS server: it answers every question with
// NXDOMAIN (so a program that asks fails at once instead of waiting) and
// records it.
type resolver struct {
	addr netip.Addr
	mu   sync.Mutex
	seen []Query
}

func (r *resolver) record(q Query) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, q)
}

func (r *resolver) queries() []Query {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Query(nil), r.seen...)
}

// serveDNS starts the namespace's resolver on the next loopback address,
// port 53, UDP and TCP, and writes the /etc files that point at it.
func (n *Namespace) serveDNS(t testing.TB) {
	t.Helper()
	r := &resolver{addr: n.addrs.take()}
	addr := netip.AddrPortFrom(r.addr, 53).String()
	// 127.0.0.2 and up need no address on lo: Linux answers all of
	// 127.0.0.0/8 on loopback.
	var pc net.PacketConn
	var ln net.Listener
	err := n.in(func() (err error) {
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("listen for DNS at %s in namespace %s: %v", addr, n.Name, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.serveUDP(pc) }()
	go func() { defer wg.Done(); r.serveTCP(ln) }()
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	n.dns = r
	n.etcFiles(t, r.addr)
}

func (r *resolver) serveUDP(pc net.PacketConn) {
	buf := make([]byte, 65535)
	for {
		m, from, err := pc.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		if ans := r.answer("udp", buf[:m]); ans != nil {
			_, _ = pc.WriteTo(ans, from)
		}
	}
}

func (r *resolver) serveTCP(ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			r.serveConn(c)
		}()
	}
}

// serveConn answers length-prefixed messages (RFC 1035 4.2.2) until the
// client closes or stays idle for 10 s.
func (r *resolver) serveConn(c net.Conn) {
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var size [2]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		ans := r.answer("tcp", msg)
		if ans == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(ans)))
		if _, err := c.Write(append(out, ans...)); err != nil {
			return
		}
	}
}

// answer records the questions of msg and returns an NXDOMAIN answer, or
// nil for something that is not a DNS query (recorded as such).
func (r *resolver) answer(network string, msg []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		r.record(Query{Network: network, Name: "(not a DNS query)"})
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil {
		r.record(Query{Network: network, Name: "(malformed question)"})
		return nil
	}
	for _, q := range qs {
		r.record(Query{Network: network, Name: q.Name.String(), Type: typeName(q.Type)})
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, RCode: dnsmessage.RCodeNameError,
	})
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	for _, q := range qs {
		if err := b.Question(q); err != nil {
			return nil
		}
	}
	ans, err := b.Finish()
	if err != nil {
		return nil
	}
	return ans
}

// typeName is the record type's mnemonic (A, AAAA, ...), without the
// package's "Type" prefix.
func typeName(t dnsmessage.Type) string {
	s := t.String()
	if len(s) > 4 && s[:4] == "Type" {
		return s[4:]
	}
	return s
}
