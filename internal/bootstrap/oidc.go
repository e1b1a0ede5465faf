package bootstrap

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/Nerzal/gocloak/v13"
)

// groupsMapper puts the user's group paths into access tokens as "groups",
// which is what oidc mode's policy matches "group:" subjects against.
const groupsMapper = "registry-stack-groups"

func groupsMapperRep() gocloak.ProtocolMapperRepresentation {
	return gocloak.ProtocolMapperRepresentation{
		Name:           gocloak.StringP(groupsMapper),
		Protocol:       gocloak.StringP("openid-connect"),
		ProtocolMapper: gocloak.StringP("oidc-group-membership-mapper"),
		Config: &map[string]string{
			"full.path":            "true",
			"claim.name":           "groups",
			"access.token.claim":   "true",
			"id.token.claim":       "true",
			"userinfo.token.claim": "true",
		},
	}
}

// EnsureOIDCClient makes sure the realm has registry-stack's OIDC client: a
// public client that allows password logins (direct-access grants) and puts
// group paths into its tokens. It reports whether it created the client.
func (a *Admin) EnsureOIDCClient(ctx context.Context, realm, clientID string) (bool, error) {
	return a.ensureOIDCClient(ctx, realm, gocloak.Client{
		ClientID:                  gocloak.StringP(clientID),
		Name:                      gocloak.StringP("registry-stack"),
		Protocol:                  gocloak.StringP("openid-connect"),
		Enabled:                   gocloak.BoolP(true),
		PublicClient:              gocloak.BoolP(true),
		DirectAccessGrantsEnabled: gocloak.BoolP(true),
		StandardFlowEnabled:       gocloak.BoolP(false),
	})
}

// EnsureRobot makes sure the realm has a robot: a confidential client with
// a service account and the groups mapper, whose service-account user is a
// member of groups. It returns the client's secret and whether it created
// the client.
func (a *Admin) EnsureRobot(ctx context.Context, realm, name string, groups []string) (secret string, created bool, err error) {
	created, err = a.ensureOIDCClient(ctx, realm, gocloak.Client{
		ClientID:                  gocloak.StringP(name),
		Name:                      gocloak.StringP("registry-stack robot " + name),
		Protocol:                  gocloak.StringP("openid-connect"),
		Enabled:                   gocloak.BoolP(true),
		PublicClient:              gocloak.BoolP(false),
		ServiceAccountsEnabled:    gocloak.BoolP(true),
		DirectAccessGrantsEnabled: gocloak.BoolP(false),
		StandardFlowEnabled:       gocloak.BoolP(false),
	})
	if err != nil {
		return "", false, err
	}
	c, err := a.findClient(ctx, realm, name)
	if err != nil {
		return "", false, err
	}
	tok, err := a.accessToken(ctx)
	if err != nil {
		return "", false, err
	}
	cred, err := a.kc.GetClientSecret(ctx, tok, realm, *c.ID)
	if err != nil || cred.Value == nil {
		return "", false, fmt.Errorf("read the secret of robot client %q in realm %q at %s: %w", name, realm, a.conn.KeycloakURL, err)
	}
	sa, err := a.kc.GetClientServiceAccount(ctx, tok, realm, *c.ID)
	if err != nil || sa.ID == nil {
		return "", false, fmt.Errorf("service account of robot client %q in realm %q at %s: %w", name, realm, a.conn.KeycloakURL, err)
	}
	for _, g := range groups {
		if err := a.EnsureMember(ctx, realm, *sa.ID, g); err != nil {
			return "", false, err
		}
	}
	return *cred.Value, created, nil
}

// ensureOIDCClient creates want unless a client with its id exists, and
// makes sure the client has the groups mapper.
func (a *Admin) ensureOIDCClient(ctx context.Context, realm string, want gocloak.Client) (bool, error) {
	clientID := *want.ClientID
	c, err := a.findClient(ctx, realm, clientID)
	if err != nil {
		return false, err
	}
	tok, err := a.accessToken(ctx)
	if err != nil {
		return false, err
	}
	created := false
	if c == nil {
		mappers := []gocloak.ProtocolMapperRepresentation{groupsMapperRep()}
		want.ProtocolMappers = &mappers
		if _, err := a.kc.CreateClient(ctx, tok, realm, want); err != nil {
			return false, fmt.Errorf("create client %q in realm %q at %s: %w", clientID, realm, a.conn.KeycloakURL, err)
		}
		a.log.Info("client created", "realm", realm, "client", clientID)
		return true, nil
	}
	if c.Protocol != nil && *c.Protocol != "openid-connect" {
		return false, fmt.Errorf("client %q in realm %q at %s uses protocol %q, not openid-connect: choose another name or delete that client",
			clientID, realm, a.conn.KeycloakURL, *c.Protocol)
	}
	if c.ProtocolMappers != nil {
		for _, m := range *c.ProtocolMappers {
			if m.Name != nil && *m.Name == groupsMapper {
				return created, nil
			}
		}
	}
	if _, err := a.kc.CreateClientProtocolMapper(ctx, tok, realm, *c.ID, groupsMapperRep()); err != nil {
		return false, fmt.Errorf("add the groups mapper to client %q in realm %q at %s: %w", clientID, realm, a.conn.KeycloakURL, err)
	}
	a.log.Info("groups mapper added", "realm", realm, "client", clientID)
	return created, nil
}

// EnsureGroup makes sure the group at path (such as /team-a or
// /dev/backend) exists, parents first, and returns its id.
func (a *Admin) EnsureGroup(ctx context.Context, realm, path string) (string, error) {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return "", err
	}
	trimmed := strings.Trim(path, "/")
	if trimmed == "" {
		return "", fmt.Errorf("group path %q names no group", path)
	}
	// gocloak joins the path after a slash of its own: give it without one.
	if g, err := a.kc.GetGroupByPath(ctx, tok, realm, trimmed); err == nil && g.ID != nil {
		return *g.ID, nil
	} else if err != nil && apiCode(err) != http.StatusNotFound {
		return "", fmt.Errorf("look up group %q in realm %q at %s: %w", path, realm, a.conn.KeycloakURL, err)
	}
	parentPath, name := "", trimmed
	if i := strings.LastIndexByte(trimmed, '/'); i >= 0 {
		parentPath, name = "/"+trimmed[:i], trimmed[i+1:]
	}
	group := gocloak.Group{Name: gocloak.StringP(name)}
	var id string
	if parentPath == "" {
		id, err = a.kc.CreateGroup(ctx, tok, realm, group)
	} else {
		parent, perr := a.EnsureGroup(ctx, realm, parentPath)
		if perr != nil {
			return "", perr
		}
		id, err = a.kc.CreateChildGroup(ctx, tok, realm, parent, group)
	}
	if err != nil {
		return "", fmt.Errorf("create group %q in realm %q at %s: %w", path, realm, a.conn.KeycloakURL, err)
	}
	a.log.Info("group created", "realm", realm, "group", path)
	return id, nil
}

// EnsureMember makes the user with id userID a member of the group at path.
func (a *Admin) EnsureMember(ctx context.Context, realm, userID, path string) error {
	gid, err := a.EnsureGroup(ctx, realm, path)
	if err != nil {
		return err
	}
	tok, err := a.accessToken(ctx)
	if err != nil {
		return err
	}
	// Adding an existing member is a no-op in Keycloak.
	if err := a.kc.AddUserToGroup(ctx, tok, realm, userID, gid); err != nil {
		return fmt.Errorf("add user %s to group %q in realm %q at %s: %w", userID, path, realm, a.conn.KeycloakURL, err)
	}
	return nil
}

// EnsureRealmRole makes sure the realm role exists and the user with id
// userID holds it.
func (a *Admin) EnsureRealmRole(ctx context.Context, realm, userID, role string) error {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return err
	}
	r, err := a.kc.GetRealmRole(ctx, tok, realm, role)
	if err != nil {
		if apiCode(err) != http.StatusNotFound {
			return fmt.Errorf("look up realm role %q in realm %q at %s: %w", role, realm, a.conn.KeycloakURL, err)
		}
		if _, err := a.kc.CreateRealmRole(ctx, tok, realm, gocloak.Role{Name: gocloak.StringP(role)}); err != nil {
			return fmt.Errorf("create realm role %q in realm %q at %s: %w", role, realm, a.conn.KeycloakURL, err)
		}
		if r, err = a.kc.GetRealmRole(ctx, tok, realm, role); err != nil {
			return fmt.Errorf("look up realm role %q in realm %q at %s: %w", role, realm, a.conn.KeycloakURL, err)
		}
	}
	if err := a.kc.AddRealmRoleToUser(ctx, tok, realm, userID, []gocloak.Role{*r}); err != nil {
		return fmt.Errorf("give user %s realm role %q in realm %q at %s: %w", userID, role, realm, a.conn.KeycloakURL, err)
	}
	return nil
}

// UserID returns the id of the user named username in realm.
func (a *Admin) UserID(ctx context.Context, realm, username string) (string, error) {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return "", err
	}
	users, err := a.kc.GetUsers(ctx, tok, realm, gocloak.GetUsersParams{Username: gocloak.StringP(username), Exact: gocloak.BoolP(true)})
	if err != nil {
		return "", fmt.Errorf("look up user %q in realm %q at %s: %w", username, realm, a.conn.KeycloakURL, err)
	}
	for _, u := range users {
		if u.Username != nil && strings.EqualFold(*u.Username, username) && u.ID != nil {
			return *u.ID, nil
		}
	}
	return "", fmt.Errorf("realm %q at %s has no user %q", realm, a.conn.KeycloakURL, username)
}

// EnsureClientRole makes sure client clientID has the role and the user
// with id userID holds it.
func (a *Admin) EnsureClientRole(ctx context.Context, realm, userID, clientID, role string) error {
	c, err := a.findClient(ctx, realm, clientID)
	if err != nil {
		return err
	}
	if c == nil || c.ID == nil {
		return fmt.Errorf("realm %q at %s has no client %q", realm, a.conn.KeycloakURL, clientID)
	}
	tok, err := a.accessToken(ctx)
	if err != nil {
		return err
	}
	r, err := a.kc.GetClientRole(ctx, tok, realm, *c.ID, role)
	if err != nil {
		if apiCode(err) != http.StatusNotFound {
			return fmt.Errorf("look up role %q of client %q in realm %q at %s: %w", role, clientID, realm, a.conn.KeycloakURL, err)
		}
		if _, err := a.kc.CreateClientRole(ctx, tok, realm, *c.ID, gocloak.Role{Name: gocloak.StringP(role)}); err != nil {
			return fmt.Errorf("create role %q of client %q in realm %q at %s: %w", role, clientID, realm, a.conn.KeycloakURL, err)
		}
		if r, err = a.kc.GetClientRole(ctx, tok, realm, *c.ID, role); err != nil {
			return fmt.Errorf("look up role %q of client %q in realm %q at %s: %w", role, clientID, realm, a.conn.KeycloakURL, err)
		}
	}
	if err := a.kc.AddClientRolesToUser(ctx, tok, realm, *c.ID, userID, []gocloak.Role{*r}); err != nil {
		return fmt.Errorf("give user %s role %q of client %q in realm %q at %s: %w", userID, role, clientID, realm, a.conn.KeycloakURL, err)
	}
	return nil
}
