// Package bootstrap prepares a Keycloak realm for registry-stack: a realm, a
// docker-v2 client whose tokens carry the `access` claim, and optionally a
// user. Every step checks before it changes anything, so Run is safe to repeat.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/Nerzal/gocloak/v13"

	"github.com/registry-stack/registry-stack/internal/httpurl"
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

// Connection says which Keycloak to talk to and as whom.
type Connection struct {
	// KeycloakURL is the server's base URL; include the /auth suffix for
	// Keycloak versions that still serve under it.
	KeycloakURL   string
	AdminUser     string
	AdminPassword string
	// AdminRealm is the realm AdminUser logs in to (default "master").
	AdminRealm string
	// Timeout bounds each request to Keycloak (default 30s).
	Timeout time.Duration
}

// Options says which Keycloak to talk to and what to create there. Errors
// name each option by its `registry-stack bootstrap` flag (KeycloakURL is
// --keycloak-url, and so on), since that is where users set them.
type Options struct {
	Connection
	Realm string
	// Service is the docker-v2 clientId, i.e. the `service` parameter of
	// token requests and the `aud` of the issued tokens.
	Service string
	// User and Password are optional; when set, the user is created or its
	// password reset (non-temporary).
	User     string
	Password string
	// OIDCClient, for auth: oidc, is registry-stack's OIDC client (public,
	// direct-access grants, groups mapper); empty means none.
	OIDCClient string
	// Demo creates the demo layout of configs/policy-demo.yaml (DemoUsers,
	// the robot ci-robot, the OIDC client registry-stack).
	Demo bool
	// Robot, when set, is a robot client to create, its service account in
	// RobotGroups.
	Robot       string
	RobotGroups []string
}

// oidc reports whether opts prepare anything for auth: oidc.
func (o *Options) oidc() bool { return o.OIDCClient != "" || o.Demo || o.Robot != "" }

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

	// OIDCClient is the OIDC client prepared for auth: oidc, if any.
	OIDCClient        string
	OIDCClientCreated bool
	Demo              *DemoResult
	Robot             string
	RobotSecret       string
	RobotCreated      bool
}

// Created reports whether Run created or added anything.
func (r *Result) Created() bool {
	return r.RealmCreated || r.ClientCreated || r.MapperAdded || r.UserCreated || r.OIDCClientCreated || r.RobotCreated
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
	if r.Service != "" {
		fmt.Fprintf(&b, "docker-v2 client %q: %s (%s)\n", r.Service, state(r.ClientCreated), mapper)
	}
	if r.OIDCClient != "" {
		fmt.Fprintf(&b, "OIDC client %q: %s (groups mapper)\n", r.OIDCClient, state(r.OIDCClientCreated))
	}
	if r.Demo != nil {
		b.WriteString(r.Demo.Summary())
	}
	if r.Robot != "" {
		// One line of its own, for scripts: robot <name> secret <secret>.
		fmt.Fprintf(&b, "robot %s secret %s\n", r.Robot, r.RobotSecret)
	}
	if r.User != "" {
		pw := ""
		if r.PasswordSet {
			pw = ", password set"
		}
		fmt.Fprintf(&b, "user %q: %s%s\n", r.User, state(r.UserCreated), pw)
	}
	return b.String()
}

// ConfigSnippet renders the registry-stack YAML that points at this realm:
// for auth: oidc, with an example policy, when an OIDC client was prepared.
func (r *Result) ConfigSnippet() string {
	if r.OIDCClient != "" {
		return fmt.Sprintf(`auth: oidc
keycloak:
  url: %s
  realm: %s
oidc:
  client_id: %s
policy:
  admins: ["role:registry-admin"]
  repositories:
    "team-a/**":
      - who: ["group:/team-a"]
        actions: [pull, push, delete]
    "public/**":
      - who: [anonymous, authenticated]
        actions: [pull]
`, yamlScalar(r.KeycloakURL), yamlScalar(r.Realm), yamlScalar(r.OIDCClient))
	}
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

// setting is one option as the user gave it, named by its flag.
type setting struct{ flag, value string }

// requireSet fails with one error naming every setting left empty.
func requireSet(settings ...setting) error {
	var missing []string
	for _, s := range settings {
		if strings.TrimSpace(s.value) == "" {
			missing = append(missing, s.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrInvalidOptions, strings.Join(missing, ", "))
	}
	return nil
}

func (c *Connection) required() []setting {
	return []setting{
		{"--keycloak-url", c.KeycloakURL},
		{"--admin-user", c.AdminUser},
		{"--admin-password", c.AdminPassword},
	}
}

// normalize checks the connection settings and fills in the defaults.
func (c *Connection) normalize() error {
	if err := requireSet(c.required()...); err != nil {
		return err
	}
	u, err := httpurl.ParseBase(strings.TrimSpace(c.KeycloakURL))
	if err != nil {
		return fmt.Errorf("%w: --keycloak-url: %v", ErrInvalidOptions, err)
	}
	c.KeycloakURL = u.String()
	if c.AdminRealm == "" {
		c.AdminRealm = DefaultAdminRealm
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: --timeout must not be negative, got %s", ErrInvalidOptions, c.Timeout)
	}
	return nil
}

// normalize checks every option and fills in the defaults; it is the only
// place the bootstrap options are checked.
func (o *Options) normalize() error {
	required := append(o.required(), setting{"--realm", o.Realm})
	if !o.oidc() {
		// Without anything for oidc mode, the docker-v2 client is the point.
		required = append(required, setting{"--service", o.Service})
	}
	if err := requireSet(required...); err != nil {
		return err
	}
	if o.Demo && o.OIDCClient == "" {
		o.OIDCClient = DemoClientID
	}
	if err := o.Connection.normalize(); err != nil {
		return err
	}
	if (o.User == "") != (o.Password == "") {
		return fmt.Errorf("%w: --user and --password must be given together", ErrInvalidOptions)
	}
	return nil
}

// Run makes sure the realm, docker-v2 client and (optionally) user described
// by opts exist in Keycloak, creating only what is missing.
func Run(ctx context.Context, opts Options, log *slog.Logger) (*Result, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	a, err := login(ctx, opts.Connection, log)
	if err != nil {
		return nil, err
	}
	// Checked before touching anything so a server without the feature is
	// left exactly as it was; oidc mode does not need it.
	if opts.Service != "" {
		if err := a.CheckDockerFeature(ctx); err != nil {
			return nil, err
		}
	}

	res := &Result{
		KeycloakURL: opts.KeycloakURL,
		Realm:       opts.Realm,
		Service:     opts.Service,
		User:        opts.User,
		OIDCClient:  opts.OIDCClient,
		Robot:       opts.Robot,
	}
	if res.RealmCreated, err = a.EnsureRealm(ctx, opts.Realm); err != nil {
		return nil, err
	}
	if opts.Service != "" {
		if res.ClientCreated, res.MapperAdded, err = a.EnsureDockerClient(ctx, opts.Realm, opts.Service); err != nil {
			return nil, err
		}
	}
	if opts.OIDCClient != "" {
		if res.OIDCClientCreated, err = a.EnsureOIDCClient(ctx, opts.Realm, opts.OIDCClient); err != nil {
			return nil, err
		}
	}
	if opts.Demo {
		if res.Demo, err = a.Demo(ctx, opts.Realm); err != nil {
			return nil, err
		}
	}
	if opts.Robot != "" {
		if res.RobotSecret, res.RobotCreated, err = a.EnsureRobot(ctx, opts.Realm, opts.Robot, opts.RobotGroups); err != nil {
			return nil, err
		}
	}
	if opts.User != "" {
		if res.UserCreated, err = a.EnsureUser(ctx, opts.Realm, opts.User, opts.Password); err != nil {
			return nil, err
		}
		res.PasswordSet = true
	}
	return res, nil
}

// apiCode extracts the HTTP status gocloak saw, or 0.
func apiCode(err error) int {
	var apiErr *gocloak.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}
