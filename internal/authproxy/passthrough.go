package authproxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// NewPassthrough returns a reverse proxy of everything under prefix (e.g.
// "/auth") to Keycloak at keycloakBase, for single-origin setups where login
// pages and the admin console are served by the stack.
//
// prefix is stripped and keycloakBase's path put in its place: with base
// "http://keycloak:8080" /auth/realms/x goes to /realms/x (Keycloak then needs
// --hostname=https://<public-host>/auth to build its links); with a Keycloak
// started with --http-relative-path=/auth, use base "http://keycloak:8080/auth"
// and the path is kept. X-Forwarded-For/Host/Proto are set for Keycloak's
// --proxy-headers=xforwarded; incoming ones are honoured only with
// Options.TrustForwardedHeaders. Only the wait for response headers is
// bounded (Options.Timeout); bodies stream both ways.
func NewPassthrough(keycloakBase *url.URL, prefix string, o Options) (http.Handler, error) {
	if keycloakBase == nil {
		return nil, fmt.Errorf("authproxy: passthrough: Keycloak URL is required")
	}
	if err := checkBaseURL(keycloakBase); err != nil {
		return nil, fmt.Errorf("authproxy: passthrough: Keycloak URL: %w", err)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("authproxy: passthrough: prefix %q must start with /", prefix)
	}
	o = o.withDefaults()
	base := *keycloakBase
	log := o.Logger.With("component", "authproxy-passthrough")

	var transport http.RoundTripper = newTransport(o.Timeout)
	if o.Client != nil && o.Client.Transport != nil {
		transport = o.Client.Transport
	}

	p := &passthrough{prefix: prefix}
	p.proxy = &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			rewrite(pr, &base, prefix, o.TrustForwardedHeaders)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				log.DebugContext(r.Context(), "passthrough request abandoned by client", "path", r.URL.Path, "error", err)
				return
			}
			f := transportFailure(err, o.Timeout)
			log.WarnContext(r.Context(), "passthrough request failed", "method", r.Method, "path", r.URL.Path, "status", f.status, "error", err)
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
	p.proxy.ServeHTTP(w, r)
}

func rewrite(pr *httputil.ProxyRequest, base *url.URL, prefix string, trustForwarded bool) {
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
	if trustForwarded {
		for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(k); v != "" {
				pr.Out.Header.Set(k, v)
			}
		}
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
