package ui

import (
	"encoding/json"
	"fmt"
)

// runtimeConfig is what the browser reads from /ui/config.json. It holds no
// secret: everything here is visible to anyone who can load the page.
type runtimeConfig struct {
	Title         string `json:"title"`
	PullHost      string `json:"pullHost"`
	DeleteEnabled bool   `json:"deleteEnabled"`
	AuthMode      string `json:"authMode"`
	TokenPath     string `json:"tokenPath"`
	Service       string `json:"service"`
	Theme         string `json:"theme"`
	Version       string `json:"version"`
}

func configJSON(o Options) ([]byte, error) {
	mode := o.AuthMode
	if mode == "" {
		mode = "none"
	}
	if mode != "none" && mode != "keycloak" && mode != "oidc" {
		return nil, fmt.Errorf("ui: auth mode %q is not one of none, keycloak, oidc", mode)
	}
	if mode != "none" && o.TokenPath == "" {
		return nil, fmt.Errorf("ui: %s mode needs the token path", mode)
	}
	theme := o.Theme
	if theme == "" {
		theme = "auto"
	}
	b, err := json.Marshal(runtimeConfig{
		Title:         title(o),
		PullHost:      o.PullHost,
		DeleteEnabled: o.DeleteEnabled,
		AuthMode:      mode,
		TokenPath:     o.TokenPath,
		Service:       o.Service,
		Theme:         theme,
		Version:       o.Version,
	})
	if err != nil {
		return nil, fmt.Errorf("ui: config.json: %w", err)
	}
	return b, nil
}
