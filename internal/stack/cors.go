package stack

import (
	"net/http"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/cors"
	"github.com/registry-stack/registry-stack/internal/server"
)

// withCORS puts the origin allowlist (http.cors_origins and the older
// keycloak.cors_origins) in front of everything a registry UI on another
// origin calls: every /v2 route, the token endpoint, the key set. The UI,
// probes, metrics and the Keycloak passthrough stay same-origin only.
func withCORS(cfg *config.Config, rt *server.Routes, tokenMethods string) error {
	p, err := cors.New(cfg.CORSOrigins(), cfg.Keycloak.TrustForwardedHeaders)
	if err != nil {
		return &config.Error{Key: "http.cors_origins", Msg: err.Error()} // Validate has accepted it: not reached
	}
	if rt.Registry != nil {
		rt.Registry = p.Handler(rt.Registry, cors.Registry())
	}
	if rt.Token != nil {
		rt.Token = p.Handler(rt.Token, cors.TokenEndpoint(tokenMethods))
	}
	if len(rt.Exact) > 0 {
		exact := make(map[string]http.Handler, len(rt.Exact))
		for path, h := range rt.Exact {
			exact[path] = p.Handler(h, cors.Public())
		}
		rt.Exact = exact
	}
	return nil
}
