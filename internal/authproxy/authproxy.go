// Package authproxy fronts Keycloak's docker-v2 token endpoint so that docker
// clients and the web UI get registry-style answers: a Basic challenge where
// Keycloak would answer 400 to a request without credentials, clear errors
// when Keycloak is down or misconfigured. CORS is internal/cors's, around
// this handler.
package authproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/registry-stack/registry-stack/internal/challenge"
	"github.com/registry-stack/registry-stack/internal/httpurl"
	"github.com/registry-stack/registry-stack/internal/keycloak"
)

// Options configures the token endpoint and the optional passthrough.
type Options struct {
	// UpstreamURL is Keycloak's docker-v2 auth URL,
	// <keycloak-url>/realms/{realm}/protocol/docker-v2/auth.
	UpstreamURL *url.URL
	// KeycloakRealm is the Keycloak realm name, used in error messages.
	KeycloakRealm string
	// Service is the configured keycloak.service (the docker-v2 client ID),
	// used to tell a misconfiguration from a client asking for another service.
	Service string
	// TrustForwardedHeaders makes the passthrough pass X-Forwarded-* on;
	// set it only behind a reverse proxy that overwrites them.
	TrustForwardedHeaders bool
	// Timeout bounds each call to Keycloak; default 10s.
	Timeout time.Duration
	// Client is used for calls to Keycloak; by default one with timeouts is
	// built. Redirects are never followed either way.
	Client *http.Client
	// Logger receives one line per failure; default discards.
	Logger *slog.Logger
	// BasicRealm is the realm text of the Basic challenge; default
	// "registry-stack".
	BasicRealm string
	// PublicURL is the stack's public base URL; the passthrough tells
	// Keycloak this host and scheme in X-Forwarded-Host/Proto.
	PublicURL *url.URL
}

const (
	defaultTimeout    = 10 * time.Second
	defaultBasicRealm = "registry-stack"
	// retryAfterSeconds is what clients are told to wait when Keycloak is
	// unreachable; short, since Keycloak restarts usually take seconds.
	retryAfterSeconds = "5"
	allowedMethods    = "GET, OPTIONS"
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BasicRealm == "" {
		o.BasicRealm = defaultBasicRealm
	}
	return o
}

type tokenHandler struct {
	upstream   *url.URL
	realm      string
	service    string
	basicRealm string
	timeout    time.Duration
	client     *http.Client
	log        *slog.Logger
}

// New returns the token endpoint handler, to be mounted at the token path
// that the registry's Bearer challenge names as realm.
func New(o Options) (http.Handler, error) {
	if err := httpurl.Check(o.UpstreamURL); err != nil {
		return nil, fmt.Errorf("authproxy: upstream URL: %w", err)
	}
	o = o.withDefaults()
	u := *o.UpstreamURL
	return &tokenHandler{
		upstream:   &u,
		realm:      o.KeycloakRealm,
		service:    o.Service,
		basicRealm: o.BasicRealm,
		timeout:    o.Timeout,
		client:     tokenClient(o.Client, o.Timeout),
		log:        o.Logger.With("component", "authproxy"),
	}, nil
}

func tokenClient(c *http.Client, timeout time.Duration) *http.Client {
	var cl http.Client
	if c != nil {
		cl = *c
	} else {
		cl.Transport = keycloak.NewTransport(timeout)
	}
	// A redirect from the token endpoint means a wrong keycloak.url or a
	// required action; following it would only hide that.
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cl
}

func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodOptions:
		// Answered here, never forwarded (a browser's preflight is
		// internal/cors's, in front of this handler).
		w.Header().Set("Allow", allowedMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", allowedMethods)
		writeError(w, failure{
			Status:  http.StatusMethodNotAllowed,
			Code:    "UNSUPPORTED",
			Message: fmt.Sprintf("method %s is not allowed on the token endpoint; use GET", r.Method),
		})
		return
	}

	ui := isUIRequest(r)
	auth, ok := basicCredentials(r.Header.Get("Authorization"))
	if !ok {
		// Keycloak answers 400 here, which makes neither docker nor a
		// browser ask for credentials.
		h.challenge(w, ui)
		writeError(w, failure{
			Status:  http.StatusUnauthorized,
			Code:    "UNAUTHORIZED",
			Message: fmt.Sprintf("authentication required: send the user name and password of a user in Keycloak realm %q with Basic authentication", h.realm),
		})
		return
	}
	h.forward(w, r, auth, ui)
}

func (h *tokenHandler) forward(w http.ResponseWriter, r *http.Request, auth string, ui bool) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()

	u := *h.upstream
	u.RawQuery = keycloakQuery(r.URL.Query())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		h.fail(w, r, failure{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "cannot build the Keycloak request"}, transportCause(err), 0)
		return
	}
	// Only what Keycloak needs: no cookies, no client-supplied X-Forwarded-*.
	req.Header.Set("Authorization", auth)
	if accept := r.Header.Values("Accept"); len(accept) > 0 {
		req.Header["Accept"] = accept
	}

	resp, err := h.client.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			h.log.DebugContext(r.Context(), "token request abandoned by client", "error", transportCause(err))
			return
		}
		h.fail(w, r, transportFailure(err, h.timeout), transportCause(err), 0)
		return
	}
	defer keycloak.DrainClose(resp.Body)

	ct := resp.Header.Get("Content-Type")
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300 && isJSON(ct):
		h.stream(w, r, resp)
	case resp.StatusCode == http.StatusUnauthorized:
		h.challenge(w, ui)
		if isJSON(ct) {
			// Keycloak already answers in the docker error format.
			h.log.InfoContext(r.Context(), "token request rejected", "status", resp.StatusCode, "upstream_status", resp.StatusCode, "service", r.URL.Query().Get("service"))
			h.stream(w, r, resp)
			return
		}
		h.fail(w, r, failure{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "invalid user name or password"}, nil, resp.StatusCode)
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		f := classify(upstreamAnswer{
			status:      resp.StatusCode,
			statusText:  resp.Status,
			contentType: ct,
			body:        body,
			location:    resp.Header.Get("Location"),
			retryAfter:  resp.Header.Get("Retry-After"),
		}, h.realm, h.service, r.URL.Query().Get("service"))
		h.fail(w, r, f, nil, resp.StatusCode)
	}
}

// stream copies Keycloak's answer as it arrives, with only the headers a
// token response needs (Keycloak's session cookies stay behind).
func (h *tokenHandler) stream(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	hdr := w.Header()
	hdr.Set("Content-Type", resp.Header.Get("Content-Type"))
	if v := resp.Header.Values("Pragma"); len(v) > 0 {
		hdr["Pragma"] = v
	}
	hdr.Set("Cache-Control", noStore(resp.Header.Values("Cache-Control")))
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(flushWriter{w: w, rc: http.NewResponseController(w)}, resp.Body); err != nil {
		h.log.WarnContext(r.Context(), "token response cut short", "status", resp.StatusCode, "error", err)
	}
}

func (h *tokenHandler) challenge(w http.ResponseWriter, ui bool) {
	// The UI shows its own login form; a challenge would make the browser
	// pop up its native dialog on top of it.
	if ui {
		return
	}
	w.Header().Set("WWW-Authenticate", challenge.Basic(h.basicRealm))
}

func (h *tokenHandler) fail(w http.ResponseWriter, r *http.Request, f failure, cause error, upstreamStatus int) {
	attrs := []any{"status", f.Status, "service", r.URL.Query().Get("service"), "message", f.Message}
	if upstreamStatus != 0 {
		attrs = append(attrs, "upstream_status", upstreamStatus)
	}
	if cause != nil {
		attrs = append(attrs, "error", cause)
	}
	level := slog.LevelWarn
	if f.Status < 500 {
		level = slog.LevelInfo
	}
	h.log.Log(r.Context(), level, "token request failed", attrs...)
	writeError(w, f)
}

// noStore keeps Keycloak's Cache-Control but makes sure it forbids storing:
// a token must never sit in a cache, and Go's client turns a lone
// "Pragma: no-cache" into "Cache-Control: no-cache", which allows it.
func noStore(values []string) string {
	cc := strings.Join(values, ", ")
	for _, d := range strings.Split(cc, ",") {
		if strings.EqualFold(strings.TrimSpace(d), "no-store") {
			return cc
		}
	}
	if cc == "" {
		return "no-store"
	}
	return cc + ", no-store"
}

func isUIRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest")
}

// basicCredentials returns the header with the scheme spelled "Basic":
// RFC 7617 makes the scheme case-insensitive, Keycloak answers "basic" with
// a misleading 400.
func basicCredentials(auth string) (string, bool) {
	scheme, rest, ok := strings.Cut(auth, " ")
	rest = strings.TrimSpace(rest)
	if !ok || !strings.EqualFold(scheme, "Basic") || rest == "" {
		return "", false
	}
	return "Basic " + rest, true
}

// keycloakQuery joins several scope parameters into one, space-separated:
// Keycloak's docker-v2 endpoint reads only the first scope parameter but
// every scope in it, and a cross-repository copy (oras cp, a blob mount)
// asks for two.
func keycloakQuery(q url.Values) string {
	if scopes := q["scope"]; len(scopes) > 1 {
		q.Set("scope", strings.Join(scopes, " "))
	}
	return q.Encode()
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// flushWriter pushes every chunk to the client as soon as it is written, so a
// slow upstream is relayed as it goes instead of sitting in a buffer.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return n, err
	}
	return n, nil
}
