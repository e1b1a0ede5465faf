package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Nerzal/gocloak/v13"
)

// Admin is a session with Keycloak's admin API (through gocloak), logged in
// as the connection's admin user. It logs in again when its access token is
// about to expire, so it can be held for longer than one token lives.
//
// Run uses it to prepare a realm; tests use it to set up scratch realms and
// whatever gocloak offers beyond that (Client).
type Admin struct {
	conn Connection
	kc   *gocloak.GoCloak
	log  *slog.Logger

	mu      sync.Mutex
	token   string
	expires time.Time
}

// tokenSlack is how long before its expiry a token is no longer used.
const tokenSlack = 10 * time.Second

// Login checks conn, fills in its defaults and logs in to Keycloak.
func Login(ctx context.Context, conn Connection, log *slog.Logger) (*Admin, error) {
	if err := conn.normalize(); err != nil {
		return nil, err
	}
	return login(ctx, conn, log)
}

// login logs in with a connection that is already normalized.
func login(ctx context.Context, conn Connection, log *slog.Logger) (*Admin, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// gocloak joins its paths onto the base URL verbatim, so a /auth prefix
	// in KeycloakURL is kept without SetLegacyWildFlySupport (which would
	// add a second one).
	kc := gocloak.NewClient(conn.KeycloakURL)
	kc.RestyClient().SetTimeout(conn.Timeout)
	a := &Admin{conn: conn, kc: kc, log: log}
	if _, err := a.accessToken(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// URL is the Keycloak base URL the session talks to, normalized.
func (a *Admin) URL() string { return a.conn.KeycloakURL }

// Client returns the gocloak client and a current access token, for admin
// calls this type does not wrap.
func (a *Admin) Client(ctx context.Context) (*gocloak.GoCloak, string, error) {
	tok, err := a.accessToken(ctx)
	return a.kc, tok, err
}

// accessToken returns the session's token, logging in again when it is
// missing or about to expire.
func (a *Admin) accessToken(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && time.Now().Before(a.expires) {
		return a.token, nil
	}
	c := a.conn
	jwt, err := a.kc.LoginAdmin(ctx, c.AdminUser, c.AdminPassword, c.AdminRealm)
	if err != nil {
		where := fmt.Sprintf("log in to Keycloak at %s as admin %q (realm %q)", c.KeycloakURL, c.AdminUser, c.AdminRealm)
		code := apiCode(err)
		switch {
		// Keycloak 26 answers a wrong password with 400 invalid_grant,
		// older releases with 401.
		case code == http.StatusUnauthorized,
			code == http.StatusBadRequest && strings.Contains(err.Error(), "invalid_grant"):
			return "", fmt.Errorf("%s: invalid admin credentials: %w", where, err)
		case code == http.StatusNotFound:
			return "", fmt.Errorf("%s: not found; check the URL (Keycloak before 17 needs the /auth suffix) and the admin realm: %w", where, err)
		}
		return "", fmt.Errorf("%s: %w", where, err)
	}
	a.token = jwt.AccessToken
	a.expires = time.Now().Add(time.Duration(jwt.ExpiresIn)*time.Second - tokenSlack)
	return a.token, nil
}

// serverInfo holds the part of /admin/serverinfo that gocloak doesn't model.
type serverInfo struct {
	Features []struct {
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
	} `json:"features"`
}

// CheckDockerFeature asks the server whether its DOCKER feature is on and
// returns ErrDockerProtocolDisabled if not. Older servers don't list
// features; EnsureDockerClient still catches those when the client creation
// is refused.
func (a *Admin) CheckDockerFeature(ctx context.Context) error {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return err
	}
	var info serverInfo
	endpoint := a.conn.KeycloakURL + "/admin/serverinfo"
	resp, err := a.kc.GetRequestWithBearerAuth(ctx, tok).SetResult(&info).Get(endpoint)
	if err != nil || resp.IsError() {
		status := ""
		if resp != nil {
			status = resp.Status()
		}
		a.log.Debug("cannot read Keycloak server info; relying on client creation to detect the docker feature",
			"url", endpoint, "status", status, "err", err)
		return nil
	}
	for _, f := range info.Features {
		if strings.EqualFold(f.Name, "docker") && !f.Enabled {
			return a.dockerDisabled("server info lists feature DOCKER as disabled")
		}
	}
	return nil
}

func (a *Admin) dockerDisabled(why string) error {
	return fmt.Errorf("%w at %s (%s): enable it by starting Keycloak with --features=docker "+
		"(kc.sh start --features=docker, or kc.sh start-dev --features=docker; or set KC_FEATURES=docker)",
		ErrDockerProtocolDisabled, a.conn.KeycloakURL, why)
}

// EnsureRealm creates the realm unless it exists and reports whether it did.
func (a *Admin) EnsureRealm(ctx context.Context, realm string) (bool, error) {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return false, err
	}
	existing, err := a.kc.GetRealm(ctx, tok, realm)
	switch {
	case err == nil:
		if existing.Enabled != nil && !*existing.Enabled {
			a.log.Warn("realm exists but is disabled; docker logins will fail until it is enabled", "realm", realm)
		}
		a.log.Info("realm already present", "realm", realm)
		return false, nil
	case apiCode(err) != http.StatusNotFound:
		return false, fmt.Errorf("look up realm %q at %s: %w", realm, a.conn.KeycloakURL, err)
	}
	if _, err := a.kc.CreateRealm(ctx, tok, gocloak.RealmRepresentation{
		Realm:   gocloak.StringP(realm),
		Enabled: gocloak.BoolP(true),
	}); err != nil {
		return false, fmt.Errorf("create realm %q at %s: %w", realm, a.conn.KeycloakURL, err)
	}
	a.log.Info("realm created", "realm", realm)
	return true, nil
}

// DeleteRealm deletes the realm with everything in it.
func (a *Admin) DeleteRealm(ctx context.Context, realm string) error {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return err
	}
	if err := a.kc.DeleteRealm(ctx, tok, realm); err != nil {
		return fmt.Errorf("delete realm %q at %s: %w", realm, a.conn.KeycloakURL, err)
	}
	return nil
}

func (a *Admin) findClient(ctx context.Context, realm, service string) (*gocloak.Client, error) {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	clients, err := a.kc.GetClients(ctx, tok, realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(service)})
	if err != nil {
		return nil, fmt.Errorf("look up client %q in realm %q at %s: %w", service, realm, a.conn.KeycloakURL, err)
	}
	for _, c := range clients {
		if c.ClientID != nil && *c.ClientID == service {
			return c, nil
		}
	}
	return nil, nil
}

func allowAllMapperRep() gocloak.ProtocolMapperRepresentation {
	return gocloak.ProtocolMapperRepresentation{
		Name:            gocloak.StringP(allowAllMapper),
		Protocol:        gocloak.StringP(dockerProtocol),
		ProtocolMapper:  gocloak.StringP(allowAllMapper),
		ConsentRequired: gocloak.BoolP(false),
		Config:          &map[string]string{},
	}
}

// EnsureDockerClient makes sure the realm has a docker-v2 client named
// service with the allow-all mapper, so its tokens carry the access claim.
// It reports whether it created the client, and whether it added the
// mapper to a client that lacked it.
func (a *Admin) EnsureDockerClient(ctx context.Context, realm, service string) (clientCreated, mapperAdded bool, err error) {
	c, err := a.findClient(ctx, realm, service)
	if err != nil {
		return false, false, err
	}
	if c == nil {
		tok, err := a.accessToken(ctx)
		if err != nil {
			return false, false, err
		}
		// The mapper is listed explicitly: Keycloak adds it by default only
		// when the request carries no protocolMappers at all.
		mappers := []gocloak.ProtocolMapperRepresentation{allowAllMapperRep()}
		_, err = a.kc.CreateClient(ctx, tok, realm, gocloak.Client{
			ClientID:        gocloak.StringP(service),
			Name:            gocloak.StringP("registry-stack registry"),
			Protocol:        gocloak.StringP(dockerProtocol),
			Enabled:         gocloak.BoolP(true),
			ProtocolMappers: &mappers,
		})
		if err != nil {
			// Keycloak without the docker feature answers
			// 400 {"error":"invalid_input","error_description":"Invalid protocol: docker-v2"}.
			if apiCode(err) == http.StatusBadRequest && strings.Contains(err.Error(), "Invalid protocol") {
				return false, false, a.dockerDisabled("creating a docker-v2 client was refused: " + err.Error())
			}
			return false, false, fmt.Errorf("create docker-v2 client %q in realm %q at %s: %w", service, realm, a.conn.KeycloakURL, err)
		}
		a.log.Info("docker-v2 client created", "realm", realm, "client", service)
		if c, err = a.findClient(ctx, realm, service); err != nil {
			return false, false, err
		}
		if c == nil {
			return false, false, fmt.Errorf("client %q in realm %q at %s vanished right after creation", service, realm, a.conn.KeycloakURL)
		}
		// Normally a no-op; a mapper added here only completes the creation
		// above, so the client is reported as created, not as repaired.
		_, err = a.ensureMapper(ctx, realm, c)
		return true, false, err
	}
	if c.Protocol == nil || *c.Protocol != dockerProtocol {
		proto := "openid-connect"
		if c.Protocol != nil {
			proto = *c.Protocol
		}
		return false, false, fmt.Errorf("client %q in realm %q at %s uses protocol %q, not %s: choose another service name or delete that client",
			service, realm, a.conn.KeycloakURL, proto, dockerProtocol)
	}
	a.log.Info("docker-v2 client already present", "realm", realm, "client", service)
	added, err := a.ensureMapper(ctx, realm, c)
	return false, added, err
}

func (a *Admin) ensureMapper(ctx context.Context, realm string, c *gocloak.Client) (bool, error) {
	service := gocloak.PString(c.ClientID)
	if c.ProtocolMappers != nil {
		for _, m := range *c.ProtocolMappers {
			if m.ProtocolMapper != nil && *m.ProtocolMapper == allowAllMapper {
				return false, nil
			}
		}
	}
	if c.ID == nil {
		return false, fmt.Errorf("client %q in realm %q at %s has no id", service, realm, a.conn.KeycloakURL)
	}
	tok, err := a.accessToken(ctx)
	if err != nil {
		return false, err
	}
	if _, err := a.kc.CreateClientProtocolMapper(ctx, tok, realm, *c.ID, allowAllMapperRep()); err != nil {
		return false, fmt.Errorf("add %s to client %q in realm %q at %s: %w", allowAllMapper, service, realm, a.conn.KeycloakURL, err)
	}
	a.log.Info("allow-all mapper added", "realm", realm, "client", service)
	return true, nil
}

// EnsureUser creates the user unless it exists and reports whether it did.
// Either way it leaves the user enabled, with a complete profile and the
// given non-temporary password.
func (a *Admin) EnsureUser(ctx context.Context, realm, user, password string) (bool, error) {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return false, err
	}
	users, err := a.kc.GetUsers(ctx, tok, realm, gocloak.GetUsersParams{
		Username: gocloak.StringP(user),
		Exact:    gocloak.BoolP(true),
	})
	if err != nil {
		return false, fmt.Errorf("look up user %q in realm %q at %s: %w", user, realm, a.conn.KeycloakURL, err)
	}
	var u *gocloak.User
	for _, cand := range users {
		if cand.Username != nil && strings.EqualFold(*cand.Username, user) {
			u = cand
			break
		}
	}

	created := false
	if u == nil {
		nu := gocloak.User{Username: gocloak.StringP(user), Enabled: gocloak.BoolP(true)}
		fillProfile(&nu, user)
		id, err := a.kc.CreateUser(ctx, tok, realm, nu)
		if err != nil {
			return false, fmt.Errorf("create user %q in realm %q at %s: %w", user, realm, a.conn.KeycloakURL, err)
		}
		nu.ID = &id
		u = &nu
		created = true
		a.log.Info("user created", "realm", realm, "user", user)
	} else if fillProfile(u, user) || u.Enabled == nil || !*u.Enabled {
		u.Enabled = gocloak.BoolP(true)
		if err := a.kc.UpdateUser(ctx, tok, realm, *u); err != nil {
			return false, fmt.Errorf("update user %q in realm %q at %s: %w", user, realm, a.conn.KeycloakURL, err)
		}
		a.log.Info("user updated (enabled, profile completed)", "realm", realm, "user", user)
	}

	if err := a.kc.SetPassword(ctx, tok, *u.ID, realm, password, false); err != nil {
		return false, fmt.Errorf("set password of user %q in realm %q at %s: %w", user, realm, a.conn.KeycloakURL, err)
	}
	if u.RequiredActions != nil {
		for _, action := range *u.RequiredActions {
			if action != "UPDATE_PASSWORD" {
				a.log.Warn("user has a pending required action; docker logins fail until it is done",
					"realm", realm, "user", user, "action", action)
			}
		}
	}
	return created, nil
}

// fillProfile fills the profile fields Keycloak's default user profile
// requires. Without them Keycloak (24+) answers the docker-v2 password
// login with a redirect to its "update profile" page instead of a token.
// It reports whether it changed anything.
func fillProfile(u *gocloak.User, username string) bool {
	changed := false
	set := func(p **string, v string) {
		if *p == nil || **p == "" {
			*p = gocloak.StringP(v)
			changed = true
		}
	}
	if u.Email == nil || *u.Email == "" {
		email := username
		if !strings.Contains(username, "@") {
			// .invalid is reserved (RFC 2606), so no mail can ever go out.
			email = username + "@registry-stack.invalid"
		}
		set(&u.Email, email)
		// Nobody can verify a made-up address; marking it verified keeps a
		// realm with "verify email" on from blocking docker logins too.
		u.EmailVerified = gocloak.BoolP(true)
	}
	set(&u.FirstName, username)
	set(&u.LastName, "registry-stack")
	return changed
}
