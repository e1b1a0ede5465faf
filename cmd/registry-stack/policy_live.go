package main

import (
	"context"
	"errors"

	"github.com/registry-stack/registry-stack/internal/bootstrap"
	"github.com/registry-stack/registry-stack/internal/policy"
)

// liveLookup finds a user's groups and roles in Keycloak for explain.
type liveLookup struct {
	url, realm, adminUser, adminPassword string
}

func (l liveLookup) subject(ctx context.Context, user string) (policy.Subject, error) {
	if l.url == "" || l.realm == "" {
		return policy.Subject{}, errors.New("--live needs keycloak.url and keycloak.realm (config file or --keycloak-url, --keycloak-realm)")
	}
	admin, err := bootstrap.Login(ctx, bootstrap.Connection{KeycloakURL: l.url, AdminUser: l.adminUser, AdminPassword: l.adminPassword}, nil)
	if err != nil {
		return policy.Subject{}, err
	}
	return admin.Subject(ctx, l.realm, user)
}
