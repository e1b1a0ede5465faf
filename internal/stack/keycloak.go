package stack

import (
	"context"
	"errors"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/server"
)

func (s *Stack) wireKeycloak(ctx context.Context, cfg *config.Config, o Options, routes *server.Routes, reg *registry.Options) error {
	return errors.New("keycloak mode: not wired yet")
}
