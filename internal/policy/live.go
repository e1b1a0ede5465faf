package policy

import "sync/atomic"

// Live is the policy in force, replaced as a whole when the configuration is
// reloaded. A request takes Current once and decides with it throughout, so
// it never sees half of an old policy and half of a new one. The zero Live
// holds no policy and so denies everything.
type Live struct {
	p atomic.Pointer[Policy]
}

// NewLive returns a Live holding p.
func NewLive(p *Policy) *Live {
	l := &Live{}
	l.p.Store(p)
	return l
}

// Current returns the policy in force; nil (deny everything) if none.
func (l *Live) Current() *Policy { return l.p.Load() }

// Swap puts p in force and returns the policy it replaces.
func (l *Live) Swap(p *Policy) (old *Policy) { return l.p.Swap(p) }
