package stack

import (
	"net/http"
	"net/url"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/ui"
	"github.com/registry-stack/registry-stack/web"
)

// newUI maps the configuration onto the web UI's runtime settings.
func newUI(cfg *config.Config, o Options) (http.Handler, error) {
	uo := ui.Options{
		Title:         cfg.UI.Title,
		PullHost:      pullHost(cfg),
		DeleteEnabled: cfg.Storage.Delete,
		AuthMode:      cfg.Auth,
		Theme:         cfg.UI.Theme,
		Version:       o.Version,
		Assets:        web.Static(),
	}
	switch cfg.Auth {
	case config.AuthKeycloak:
		uo.TokenPath = cfg.TokenPath()
		uo.Service = cfg.Keycloak.Service
	case config.AuthOIDC:
		uo.TokenPath = cfg.OIDC.TokenPath
		uo.Service = cfg.OIDC.Service
	}
	return ui.New(uo)
}

// pullHost is ui.pull_host, else the host of a configured public_url. When
// neither is set it stays empty and the UI uses the host the page was
// loaded from: a public URL derived from the listen address (":5000" →
// localhost:5000) would be wrong for every other machine.
func pullHost(cfg *config.Config) string {
	if cfg.UI.PullHost != "" {
		return cfg.UI.PullHost
	}
	if cfg.PublicURL != "" {
		if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return ""
}
