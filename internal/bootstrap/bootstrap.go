// Package bootstrap prepares a Keycloak realm for registry-stack: a realm, a
// docker-v2 client whose tokens carry the `access` claim, and optionally a
// user. Every step checks before it changes anything, so Run is safe to repeat.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Nerzal/gocloak/v13"
)

const (
	// DefaultAdminRealm is where Keycloak's bootstrap admin lives.
	DefaultAdminRealm = "master"
	// DefaultTimeout bounds each request to Keycloak.
	DefaultTimeout = 30 * time.Second

	dockerProtocol = "docker-v2"
	// allowAllMapper makes Keycloak grant every requested scope; without it
	// docker-v2 tokens carry `"access": []` and every pull/push is denied.
	allowAllMapper = "docker-v2-allow-all-mapper"
)

var (
	// ErrInvalidOptions marks a problem with Options rather than with Keycloak.
	ErrInvalidOptions = errors.New("invalid bootstrap options")
	// ErrDockerProtocolDisabled means Keycloak runs without its docker feature.
	ErrDockerProtocolDisabled = errors.New("keycloak's docker-v2 protocol is disabled")
)

// Options says which Keycloak to talk to and what to create there.
type Options struct {
	// KeycloakURL is the server's base URL; include the /auth suffix for
	// Keycloak versions that still serve under it.
	KeycloakURL   string
	AdminUser     string
	AdminPassword string
	// AdminRealm is the realm AdminUser logs in to (default "master").
	AdminRealm string
	Realm      string
	// Service is the docker-v2 clientId, i.e. the `service` parameter of
	// token requests and the `aud` of the issued tokens.
	Service string
	// User and Password are optional; when set, the user is created or its
	// password reset (non-temporary).
	User     string
	Password string
	// Timeout bounds each request to Keycloak (default 30s).
	Timeout time.Duration
}

// Result reports what Run found and changed.
type Result struct {
	KeycloakURL string
	Realm       string
	Service     string
	User        string

	RealmCreated  bool
	ClientCreated bool
	// MapperAdded is true when an existing client lacked the allow-all mapper.
	MapperAdded bool
	UserCreated bool
	// PasswordSet is true whenever User was given: Keycloak cannot tell us
	// whether the stored password already matches, so it is always reset.
	PasswordSet bool
}

// Created reports whether Run created or added anything.
func (r *Result) Created() bool {
	return r.RealmCreated || r.ClientCreated || r.MapperAdded || r.UserCreated
}

// Summary renders a human-readable account of what Run did, one line per item.
func (r *Result) Summary() string {
	var b strings.Builder
	state := func(created bool) string {
		if created {
			return "created"
		}
		return "already present"
	}
	fmt.Fprintf(&b, "realm %q: %s\n", r.Realm, state(r.RealmCreated))
	mapper := "allow-all mapper present"
	if r.MapperAdded {
		mapper = "allow-all mapper added"
	}
	fmt.Fprintf(&b, "docker-v2 client %q: %s (%s)\n", r.Service, state(r.ClientCreated), mapper)
	if r.User != "" {
		pw := ""
		if r.PasswordSet {
			pw = ", password set"
		}
		fmt.Fprintf(&b, "user %q: %s%s\n", r.User, state(r.UserCreated), pw)
	}
	return b.String()
}

// ConfigSnippet renders the registry-stack YAML that points at this realm.
func (r *Result) ConfigSnippet() string {
	return fmt.Sprintf("auth: keycloak\nkeycloak:\n  url: %s\n  realm: %s\n  service: %s\n",
		yamlScalar(r.KeycloakURL), yamlScalar(r.Realm), yamlScalar(r.Service))
}

var plainYAML = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/:@-]*$`)

// yamlScalar leaves ordinary values bare and double-quotes the rest; a JSON
// string is a valid YAML double-quoted scalar, so %q-style escaping suffices
// for the characters realm names and URLs can contain.
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~":
		return quoteYAML(s)
	}
	if plainYAML.MatchString(s) && !strings.HasSuffix(s, ":") {
		return s
	}
	return quoteYAML(s)
}

func quoteYAML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (o *Options) normalize() error {
	o.KeycloakURL = strings.TrimRight(strings.TrimSpace(o.KeycloakURL), "/")
	if o.AdminRealm == "" {
		o.AdminRealm = DefaultAdminRealm
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	var missing []string
	for _, f := range []struct{ name, val string }{
		{"KeycloakURL", o.KeycloakURL},
		{"AdminUser", o.AdminUser},
		{"AdminPassword", o.AdminPassword},
		{"Realm", o.Realm},
		{"Service", o.Service},
	} {
		if f.val == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrInvalidOptions, strings.Join(missing, ", "))
	}
	u, err := url.Parse(o.KeycloakURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: KeycloakURL %q is not an http(s) URL", ErrInvalidOptions, o.KeycloakURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: KeycloakURL %q must not carry a query or fragment", ErrInvalidOptions, o.KeycloakURL)
	}
	if (o.User == "") != (o.Password == "") {
		return fmt.Errorf("%w: User and Password must be given together", ErrInvalidOptions)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("%w: Timeout %s is negative", ErrInvalidOptions, o.Timeout)
	}
	return nil
}

// runner carries one Run's connection state.
type runner struct {
	opts  Options
	kc    *gocloak.GoCloak
	token string
	log   *slog.Logger
}

// Run makes sure the realm, docker-v2 client and (optionally) user described
// by opts exist in Keycloak, creating only what is missing.
func Run(ctx context.Context, opts Options, log *slog.Logger) (*Result, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// gocloak joins its paths onto the base URL verbatim, so a /auth prefix
	// in KeycloakURL is kept without SetLegacyWildFlySupport (which would
	// add a second one).
	kc := gocloak.NewClient(opts.KeycloakURL)
	kc.RestyClient().SetTimeout(opts.Timeout)
	r := &runner{opts: opts, kc: kc, log: log}

	if err := r.login(ctx); err != nil {
		return nil, err
	}
	// Checked before touching anything so a server without the feature is
	// left exactly as it was.
	if err := r.checkDockerFeature(ctx); err != nil {
		return nil, err
	}

	res := &Result{
		KeycloakURL: opts.KeycloakURL,
		Realm:       opts.Realm,
		Service:     opts.Service,
		User:        opts.User,
	}
	var err error
	if res.RealmCreated, err = r.ensureRealm(ctx); err != nil {
		return nil, err
	}
	if res.ClientCreated, res.MapperAdded, err = r.ensureClient(ctx); err != nil {
		return nil, err
	}
	if opts.User != "" {
		if res.UserCreated, err = r.ensureUser(ctx); err != nil {
			return nil, err
		}
		res.PasswordSet = true
	}
	return res, nil
}

func (r *runner) login(ctx context.Context) error {
	o := r.opts
	jwt, err := r.kc.LoginAdmin(ctx, o.AdminUser, o.AdminPassword, o.AdminRealm)
	if err != nil {
		where := fmt.Sprintf("log in to Keycloak at %s as admin %q (realm %q)", o.KeycloakURL, o.AdminUser, o.AdminRealm)
		code := apiCode(err)
		switch {
		// Keycloak 26 answers a wrong password with 400 invalid_grant,
		// older releases with 401.
		case code == http.StatusUnauthorized,
			code == http.StatusBadRequest && strings.Contains(err.Error(), "invalid_grant"):
			return fmt.Errorf("%s: invalid admin credentials: %w", where, err)
		case code == http.StatusNotFound:
			return fmt.Errorf("%s: not found; check the URL (Keycloak before 17 needs the /auth suffix) and the admin realm: %w", where, err)
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	r.token = jwt.AccessToken
	return nil
}

// serverInfo holds the part of /admin/serverinfo that gocloak doesn't model.
type serverInfo struct {
	Features []struct {
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
	} `json:"features"`
}

// checkDockerFeature asks the server whether its DOCKER feature is on. Older
// servers don't list features; ensureClient still catches those when the
// client creation is refused.
func (r *runner) checkDockerFeature(ctx context.Context) error {
	var info serverInfo
	endpoint := r.opts.KeycloakURL + "/admin/serverinfo"
	resp, err := r.kc.GetRequestWithBearerAuth(ctx, r.token).SetResult(&info).Get(endpoint)
	if err != nil || resp.IsError() {
		status := ""
		if resp != nil {
			status = resp.Status()
		}
		r.log.Debug("cannot read Keycloak server info; relying on client creation to detect the docker feature",
			"url", endpoint, "status", status, "err", err)
		return nil
	}
	for _, f := range info.Features {
		if strings.EqualFold(f.Name, "docker") && !f.Enabled {
			return r.dockerDisabled("server info lists feature DOCKER as disabled")
		}
	}
	return nil
}

func (r *runner) dockerDisabled(why string) error {
	return fmt.Errorf("%w at %s (%s): enable it by starting Keycloak with --features=docker "+
		"(kc.sh start --features=docker, or kc.sh start-dev --features=docker; or set KC_FEATURES=docker)",
		ErrDockerProtocolDisabled, r.opts.KeycloakURL, why)
}

func (r *runner) ensureRealm(ctx context.Context) (bool, error) {
	realm := r.opts.Realm
	existing, err := r.kc.GetRealm(ctx, r.token, realm)
	switch {
	case err == nil:
		if existing.Enabled != nil && !*existing.Enabled {
			r.log.Warn("realm exists but is disabled; docker logins will fail until it is enabled", "realm", realm)
		}
		r.log.Info("realm already present", "realm", realm)
		return false, nil
	case apiCode(err) != http.StatusNotFound:
		return false, fmt.Errorf("look up realm %q at %s: %w", realm, r.opts.KeycloakURL, err)
	}
	if _, err := r.kc.CreateRealm(ctx, r.token, gocloak.RealmRepresentation{
		Realm:   gocloak.StringP(realm),
		Enabled: gocloak.BoolP(true),
	}); err != nil {
		return false, fmt.Errorf("create realm %q at %s: %w", realm, r.opts.KeycloakURL, err)
	}
	r.log.Info("realm created", "realm", realm)
	return true, nil
}

func (r *runner) findClient(ctx context.Context) (*gocloak.Client, error) {
	clients, err := r.kc.GetClients(ctx, r.token, r.opts.Realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(r.opts.Service)})
	if err != nil {
		return nil, fmt.Errorf("look up client %q in realm %q at %s: %w", r.opts.Service, r.opts.Realm, r.opts.KeycloakURL, err)
	}
	for _, c := range clients {
		if c.ClientID != nil && *c.ClientID == r.opts.Service {
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

// ensureClient returns (clientCreated, mapperAdded).
func (r *runner) ensureClient(ctx context.Context) (bool, bool, error) {
	o := r.opts
	c, err := r.findClient(ctx)
	if err != nil {
		return false, false, err
	}
	if c == nil {
		// The mapper is listed explicitly: Keycloak adds it by default only
		// when the request carries no protocolMappers at all.
		mappers := []gocloak.ProtocolMapperRepresentation{allowAllMapperRep()}
		_, err := r.kc.CreateClient(ctx, r.token, o.Realm, gocloak.Client{
			ClientID:        gocloak.StringP(o.Service),
			Name:            gocloak.StringP("registry-stack registry"),
			Protocol:        gocloak.StringP(dockerProtocol),
			Enabled:         gocloak.BoolP(true),
			ProtocolMappers: &mappers,
		})
		if err != nil {
			// Keycloak without the docker feature answers
			// 400 {"error":"invalid_input","error_description":"Invalid protocol: docker-v2"}.
			if apiCode(err) == http.StatusBadRequest && strings.Contains(err.Error(), "Invalid protocol") {
				return false, false, r.dockerDisabled("creating a docker-v2 client was refused: " + err.Error())
			}
			return false, false, fmt.Errorf("create docker-v2 client %q in realm %q at %s: %w", o.Service, o.Realm, o.KeycloakURL, err)
		}
		r.log.Info("docker-v2 client created", "realm", o.Realm, "client", o.Service)
		if c, err = r.findClient(ctx); err != nil {
			return false, false, err
		}
		if c == nil {
			return false, false, fmt.Errorf("client %q in realm %q at %s vanished right after creation", o.Service, o.Realm, o.KeycloakURL)
		}
		// Normally a no-op; a mapper added here only completes the creation
		// above, so the client is reported as created, not as repaired.
		_, err = r.ensureMapper(ctx, c)
		return true, false, err
	}
	if c.Protocol == nil || *c.Protocol != dockerProtocol {
		proto := "openid-connect"
		if c.Protocol != nil {
			proto = *c.Protocol
		}
		return false, false, fmt.Errorf("client %q in realm %q at %s uses protocol %q, not %s: choose another service name or delete that client",
			o.Service, o.Realm, o.KeycloakURL, proto, dockerProtocol)
	}
	r.log.Info("docker-v2 client already present", "realm", o.Realm, "client", o.Service)
	added, err := r.ensureMapper(ctx, c)
	return false, added, err
}

func (r *runner) ensureMapper(ctx context.Context, c *gocloak.Client) (bool, error) {
	o := r.opts
	if c.ProtocolMappers != nil {
		for _, m := range *c.ProtocolMappers {
			if m.ProtocolMapper != nil && *m.ProtocolMapper == allowAllMapper {
				return false, nil
			}
		}
	}
	if c.ID == nil {
		return false, fmt.Errorf("client %q in realm %q at %s has no id", o.Service, o.Realm, o.KeycloakURL)
	}
	if _, err := r.kc.CreateClientProtocolMapper(ctx, r.token, o.Realm, *c.ID, allowAllMapperRep()); err != nil {
		return false, fmt.Errorf("add %s to client %q in realm %q at %s: %w", allowAllMapper, o.Service, o.Realm, o.KeycloakURL, err)
	}
	r.log.Info("allow-all mapper added", "realm", o.Realm, "client", o.Service)
	return true, nil
}

// ensureUser returns whether the user was created. Either way it leaves the
// user enabled, with a complete profile and a non-temporary password.
func (r *runner) ensureUser(ctx context.Context) (bool, error) {
	o := r.opts
	users, err := r.kc.GetUsers(ctx, r.token, o.Realm, gocloak.GetUsersParams{
		Username: gocloak.StringP(o.User),
		Exact:    gocloak.BoolP(true),
	})
	if err != nil {
		return false, fmt.Errorf("look up user %q in realm %q at %s: %w", o.User, o.Realm, o.KeycloakURL, err)
	}
	var u *gocloak.User
	for _, cand := range users {
		if cand.Username != nil && strings.EqualFold(*cand.Username, o.User) {
			u = cand
			break
		}
	}

	created := false
	if u == nil {
		nu := gocloak.User{Username: gocloak.StringP(o.User), Enabled: gocloak.BoolP(true)}
		fillProfile(&nu, o.User)
		id, err := r.kc.CreateUser(ctx, r.token, o.Realm, nu)
		if err != nil {
			return false, fmt.Errorf("create user %q in realm %q at %s: %w", o.User, o.Realm, o.KeycloakURL, err)
		}
		nu.ID = &id
		u = &nu
		created = true
		r.log.Info("user created", "realm", o.Realm, "user", o.User)
	} else if fillProfile(u, o.User) || u.Enabled == nil || !*u.Enabled {
		u.Enabled = gocloak.BoolP(true)
		if err := r.kc.UpdateUser(ctx, r.token, o.Realm, *u); err != nil {
			return false, fmt.Errorf("update user %q in realm %q at %s: %w", o.User, o.Realm, o.KeycloakURL, err)
		}
		r.log.Info("user updated (enabled, profile completed)", "realm", o.Realm, "user", o.User)
	}

	if err := r.kc.SetPassword(ctx, r.token, *u.ID, o.Realm, o.Password, false); err != nil {
		return false, fmt.Errorf("set password of user %q in realm %q at %s: %w", o.User, o.Realm, o.KeycloakURL, err)
	}
	if u.RequiredActions != nil {
		for _, a := range *u.RequiredActions {
			if a != "UPDATE_PASSWORD" {
				r.log.Warn("user has a pending required action; docker logins fail until it is done",
					"realm", o.Realm, "user", o.User, "action", a)
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

// apiCode extracts the HTTP status gocloak saw, or 0.
func apiCode(err error) int {
	var apiErr *gocloak.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}
