package authproxy

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/registry-stack/registry-stack/internal/httpurl"
	"github.com/registry-stack/registry-stack/internal/keycloak"
)

// minBodyIdle is the least time a passthrough body may go without a read.
const minBodyIdle = 30 * time.Second

// NewPassthrough returns a reverse proxy of everything under prefix (e.g.
// "/auth") to Keycloak at keycloakBase, for single-origin setups where login
// pages and the admin console are served by the stack.
//
// prefix is stripped and keycloakBase's path put in its place: with base
// "http://keycloak:8080" /auth/realms/x goes to /realms/x (Keycloak then needs
// --hostname=https://<public-host>/auth to build its links); with a Keycloak
// started with --http-relative-path=/auth, use base "http://keycloak:8080/auth"
// and the path is kept. X-Forwarded-For/Host/Proto are set for Keycloak's
// --proxy-headers=xforwarded: Host and Proto from Options.PublicURL, or from
// the incoming ones with Options.TrustForwardedHeaders; the client's own
// Host header is never passed on as the public host. The wait for response headers is
// bounded by Options.Timeout, a stalled response body by the larger of that
// and 30s without data; bodies stream both ways.
func NewPassthrough(keycloakBase *url.URL, prefix string, o Options) (http.Handler, error) {
	if err := httpurl.Check(keycloakBase); err != nil {
		return nil, fmt.Errorf("authproxy: passthrough: Keycloak URL: %w", err)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("authproxy: passthrough: prefix %q must start with /", prefix)
	}
	o = o.withDefaults()
	base := *keycloakBase
	log := o.Logger.With("component", "authproxy-passthrough")

	var transport http.RoundTripper = keycloak.NewTransport(o.Timeout)
	if o.Client != nil && o.Client.Transport != nil {
		transport = o.Client.Transport
	}

	public := o.PublicURL

	p := &passthrough{prefix: prefix}
	p.proxy = &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			rewrite(pr, &base, prefix, o.TrustForwardedHeaders, public)
		},
		// A Keycloak that sends headers and then stalls must not hold the
		// connections forever; idle counts time between reads, generously,
		// since writing to a slow client also pauses reading.
		ModifyResponse: func(resp *http.Response) error {
			resp.Body = newIdleBody(resp.Body, max(o.Timeout, minBodyIdle))
			return nil
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				log.DebugContext(r.Context(), "passthrough request abandoned by client", "path", r.URL.Path, "error", err)
				return
			}
			f := transportFailure(err, o.Timeout)
			log.WarnContext(r.Context(), "passthrough request failed", "method", r.Method, "path", r.URL.Path, "status", f.Status, "error", err)
			writeError(w, f)
		},
	}
	return p, nil
}

type passthrough struct {
	prefix string
	proxy  *httputil.ReverseProxy
}

func (p *passthrough) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Mounted under a prefix, but never let "/authx" or "/" through.
	if p.prefix != "" && r.URL.Path != p.prefix && !strings.HasPrefix(r.URL.Path, p.prefix+"/") {
		http.NotFound(w, r)
		return
	}
	// The router does not clean paths (registry names need that), so dot
	// segments could walk out of Keycloak's path on the upstream host, and
	// "//" or a trailing slash could dodge the token endpoint's own route.
	if hasDotSegment(r.URL.Path) || (r.URL.RawPath != "" && hasDotSegment(r.URL.RawPath)) ||
		strings.Contains(r.URL.Path, "//") || isDockerTokenPath(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// hasDotSegment reports "." or ".." path segments, also percent-encoded.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		switch strings.ToLower(strings.ReplaceAll(seg, "%2e", ".")) {
		case ".", "..":
			return true
		}
		if strings.Contains(strings.ToLower(seg), "%2f") {
			return true
		}
	}
	return false
}

// isDockerTokenPath matches Keycloak's docker-v2 token endpoint however it
// is spelled; tokens go through the token handler only, which owns the
// challenge, error and CORS behaviour.
func isDockerTokenPath(p string) bool {
	return strings.HasSuffix(strings.TrimRight(p, "/"), "/protocol/docker-v2/auth")
}

func rewrite(pr *httputil.ProxyRequest, base *url.URL, prefix string, trustForwarded bool, public *url.URL) {
	in, out := pr.In.URL, pr.Out.URL
	out.Scheme, out.Host = base.Scheme, base.Host
	out.Path = joinPath(base.Path, strings.TrimPrefix(in.Path, prefix))
	out.RawPath = ""
	if in.RawPath != "" && strings.HasPrefix(in.RawPath, prefix) {
		out.RawPath = joinPath(base.EscapedPath(), strings.TrimPrefix(in.RawPath, prefix))
	}
	// Keycloak sees its own host in Host and the public one in X-Forwarded-Host.
	pr.Out.Host = ""

	if trustForwarded {
		if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
	}
	pr.SetXForwarded()
	switch {
	case trustForwarded:
		for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(k); v != "" {
				pr.Out.Header.Set(k, v)
			}
		}
	case public != nil:
		// The client's Host header must not become the host Keycloak puts
		// into links and emails: the configured public URL is the truth.
		pr.Out.Header.Set("X-Forwarded-Host", public.Host)
		pr.Out.Header.Set("X-Forwarded-Proto", public.Scheme)
	}
}

// joinPath puts rest (empty or starting with "/") under base.
func joinPath(base, rest string) string {
	p := strings.TrimRight(base, "/") + rest
	if p == "" {
		return "/"
	}
	return p
}

// idleBody closes the upstream body when no read completes for d, which
// makes a stalled copy fail instead of hanging.
type idleBody struct {
	rc    io.ReadCloser
	d     time.Duration
	timer *time.Timer
}

func newIdleBody(rc io.ReadCloser, d time.Duration) *idleBody {
	return &idleBody{rc: rc, d: d, timer: time.AfterFunc(d, func() { _ = rc.Close() })}
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.timer.Reset(b.d)
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.rc.Close()
}
