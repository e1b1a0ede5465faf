// Package cors answers browsers by an exact allowlist of origins: the
// stack's own origin and the configured ones. It never reflects an origin it
// does not know and never uses wildcards.
package cors

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/registry-stack/registry-stack/internal/httpurl"
)

// PreflightMaxAge lets browsers cache a preflight for ten minutes.
const PreflightMaxAge = "600"

// Policy allows the stack's own origin and an exact list of others.
type Policy struct {
	allowed        map[string]bool
	trustForwarded bool
}

// New returns the policy for origins (each as httpurl.ParseOrigin accepts
// it). trustForwarded makes X-Forwarded-Proto/Host define the stack's own
// origin, for a stack behind a reverse proxy that sets them.
func New(origins []string, trustForwarded bool) (*Policy, error) {
	p := &Policy{allowed: make(map[string]bool, len(origins)), trustForwarded: trustForwarded}
	for _, o := range origins {
		n, err := httpurl.ParseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w", o, err)
		}
		p.allowed[n] = true
	}
	return p, nil
}

// ownOrigin is the origin the request was sent to, as the browser saw it.
func (p *Policy) ownOrigin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if p.trustForwarded {
		if v := firstValue(r.Header.Get("X-Forwarded-Proto")); v != "" {
			scheme = v
		}
		if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" {
			host = v
		}
	}
	n, err := httpurl.ParseOrigin(scheme + "://" + host)
	if err != nil {
		return ""
	}
	return n
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// allowedOrigin reports the request's Origin if it may read the answer.
func (p *Policy) allowedOrigin(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return "", false
	}
	n, err := httpurl.ParseOrigin(origin)
	if err != nil {
		return "", false
	}
	if p.allowed[n] || n == p.ownOrigin(r) {
		return origin, true
	}
	return "", false
}

// Apply sets the headers every answer needs. A foreign origin is still
// served (docker and curl send no Origin semantics), only not granted.
func (p *Policy) Apply(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	if origin, ok := p.allowedOrigin(r); ok {
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
}

// Preflight adds the preflight grants for an allowed origin. No
// Allow-Credentials: the UI sends an Authorization header, not cookies.
func (p *Policy) Preflight(w http.ResponseWriter, r *http.Request, methods, headers string) {
	if r.Header.Get("Access-Control-Request-Method") == "" {
		return
	}
	if _, ok := p.allowedOrigin(r); !ok {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", headers)
	h.Set("Access-Control-Max-Age", PreflightMaxAge)
}
