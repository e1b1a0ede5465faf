// Package cors answers browsers by an exact allowlist of origins: the
// stack's own origin and the configured ones (http.cors_origins). It is the
// one place CORS headers are written: Handler wraps the registry API, the
// token endpoint and the key set. It never reflects an origin it does not
// know and never uses wildcards.
package cors

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/registry-stack/registry-stack/internal/apierror"
	"github.com/registry-stack/registry-stack/internal/httpurl"
)

// PreflightMaxAge lets browsers cache a preflight for ten minutes.
const PreflightMaxAge = "600"

// ExposedHeaders are the response headers a registry UI on another origin
// must read: digests to delete by, paging links, the Bearer challenge that
// names the token endpoint, upload progress and locations, the API version
// that marks a registry, the subject of a referrer. Content-Type is always
// readable.
const ExposedHeaders = "Docker-Content-Digest, Docker-Distribution-Api-Version, Docker-Upload-Uuid, " +
	"Link, Location, Range, Content-Range, Content-Length, ETag, WWW-Authenticate, OCI-Subject, OCI-Filters-Applied"

// Rule is what a preflight grants on the routes one Handler wraps.
type Rule struct {
	Methods string // e.g. "GET, HEAD"
	Headers string // request headers a page may send, e.g. "Authorization, Accept"
}

// Registry is the grant for /v2: every method of the distribution API and
// the headers its clients send (Content-Range for chunked uploads, Range
// for partial blob reads, Accept to choose the manifest type).
func Registry() Rule {
	return Rule{
		Methods: "GET, HEAD, PUT, POST, PATCH, DELETE",
		Headers: "Authorization, Accept, Content-Type, Content-Range, Range, If-None-Match, X-Requested-With",
	}
}

// TokenEndpoint is the grant for a token endpoint answering methods:
// Basic or Bearer credentials, the UI's X-Requested-With marker (no
// browser login popup), and a form body for OAuth2 POSTs.
func TokenEndpoint(methods string) Rule {
	return Rule{Methods: methods, Headers: "Authorization, Accept, Content-Type, X-Requested-With"}
}

// Public is the grant for public documents such as a key set.
func Public() Rule { return Rule{Methods: "GET, HEAD", Headers: "Accept"} }

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

// Handler answers CORS for next. A listed origin gets Allow-Origin (its own
// spelling, never "*"), Allow-Credentials and the exposed headers on every
// answer, errors and 401 challenges included, so a page can read why it
// failed and where to get a token. Preflights never reach next: they carry
// no credentials, and the registry would answer them 401. A preflight from
// an unlisted origin gets 403 and no CORS header at all. Requests without a
// preflight (docker, curl, same-origin pages) are served as before; an
// unlisted origin just cannot read the answer.
func (p *Policy) Handler(next http.Handler, rule Rule) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Answers differ by Origin: caches must key on it, also for the
		// requests that get no grant.
		h.Add("Vary", "Origin")
		origin, ok := p.allowedOrigin(r)
		if ok {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			if !ok {
				apierror.Write(w, apierror.Error{Status: http.StatusForbidden, Code: "DENIED",
					Message: "this origin may not call the registry from a browser; the registry's http.cors_origins lists those that may"})
				return
			}
			h.Set("Access-Control-Allow-Methods", rule.Methods)
			h.Set("Access-Control-Allow-Headers", rule.Headers)
			h.Set("Access-Control-Max-Age", PreflightMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if ok {
			h.Set("Access-Control-Expose-Headers", ExposedHeaders)
		}
		next.ServeHTTP(w, r)
	})
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
