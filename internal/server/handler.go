// Package server composes registry-stack's HTTP surface behind one listener
// and runs it with graceful shutdown.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/registry-stack/registry-stack/internal/apierror"
)

// Check is one readiness condition, e.g. storage reachable or signing keys
// loaded. It names itself: the name is its key in /readyz's answer, and its
// error says what is not ready and what it could not reach.
type Check interface {
	Name() string
	Check(ctx context.Context) error
}

// CheckFunc makes a Check of a name and a function.
func CheckFunc(name string, f func(ctx context.Context) error) Check { return checkFunc{name, f} }

type checkFunc struct {
	name string
	f    func(ctx context.Context) error
}

func (c checkFunc) Name() string                    { return c.name }
func (c checkFunc) Check(ctx context.Context) error { return c.f(ctx) }

// Routes are the handlers mounted on the one router. Nil handlers are not
// mounted.
type Routes struct {
	Registry http.Handler // /v2/
	// TokenPath and Token serve the docker token endpoint.
	TokenPath string
	Token     http.Handler
	// Exact are further handlers, each at exactly its path (the JWKS).
	Exact map[string]http.Handler
	// AuthPassthrough, when set, receives every other /auth/ request.
	AuthPassthrough http.Handler
	Metrics         http.Handler // /metrics
	UI              http.Handler // everything else
	Ready           []Check
	// ReadyTimeout bounds each readiness check; default 5s.
	ReadyTimeout time.Duration
	Logger       *slog.Logger
}

const defaultReadyTimeout = 5 * time.Second

// NewHandler builds the router and wraps it with the access log.
func NewHandler(rt Routes) http.Handler {
	r := mux.NewRouter()
	r.SkipClean(true) // repository names and digests are matched by distribution itself
	r.UseEncodedPath()
	if rt.Registry != nil {
		// "/v2" and "/v2/..." only: "/v2foo" is not the registry's.
		r.Path("/v2").Handler(rt.Registry)
		r.PathPrefix("/v2/").Handler(rt.Registry)
	}
	if rt.Token != nil && rt.TokenPath != "" {
		r.Path(rt.TokenPath).Handler(rt.Token)
	}
	for path, h := range rt.Exact {
		r.Path(path).Handler(h)
	}
	if rt.AuthPassthrough != nil {
		r.PathPrefix("/auth/").Handler(rt.AuthPassthrough)
	}
	r.Path("/healthz").Methods(http.MethodGet, http.MethodHead).HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	timeout := rt.ReadyTimeout
	if timeout <= 0 {
		timeout = defaultReadyTimeout
	}
	r.Path("/readyz").Methods(http.MethodGet, http.MethodHead).Handler(readyHandler(rt.Ready, timeout))
	if rt.Metrics != nil {
		r.Path("/metrics").Handler(rt.Metrics)
	}
	// Paths of registry protocols and probes never get the UI's page: a
	// client probing for an endpoint (podman search tries /v1/search first)
	// must see a registry error, not HTML with 200.
	for _, probe := range []string{"/healthz", "/readyz"} {
		r.Path(probe).HandlerFunc(methodNotAllowed) // the GET and HEAD routes are above
	}
	for _, prefix := range []string{"/v1", "/v2", "/auth", "/token", "/healthz/", "/readyz/", "/metrics"} {
		r.PathPrefix(prefix).HandlerFunc(noSuchEndpoint)
	}
	if rt.UI != nil {
		r.PathPrefix("/").Handler(rt.UI)
	}
	return AccessLog(rt.Logger, r)
}

// readyHandler answers 200 only when every check passes. Checks run
// concurrently, each with its own deadline, so one hung backend can neither
// hang the probe nor make the healthy checks after it time out. Once Serve
// starts shutting down it answers 503 without running them: load balancers
// must stop sending before the listener closes.
func readyHandler(checks []Check, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining(r.Context()) {
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"ready": false, "draining": true,
				"checks": map[string]string{"server": "draining: shutting down, send new requests elsewhere"},
			})
			return
		}
		errs := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), timeout)
				defer cancel()
				errs[i] = c.Check(ctx)
			})
		}
		wg.Wait()
		status := http.StatusOK
		results := map[string]string{}
		for i, c := range checks {
			if errs[i] != nil {
				status = http.StatusServiceUnavailable
				results[c.Name()] = errs[i].Error()
				continue
			}
			results[c.Name()] = "ok"
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": results})
	})
}

// noSuchEndpoint answers a protocol path nothing serves. The spec has no
// generic "not found" code; UNSUPPORTED with 404 tells clients this endpoint
// does not exist here.
func noSuchEndpoint(w http.ResponseWriter, _ *http.Request) {
	apierror.Write(w, apierror.Error{Status: http.StatusNotFound, Code: "UNSUPPORTED", Message: "no such endpoint"})
}

func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	apierror.Write(w, apierror.Error{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED", Message: "use GET or HEAD"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
