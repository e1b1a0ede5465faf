// Package config loads registry-stack's own configuration: a YAML file,
// overridden by REGISTRY_STACK_* environment variables, overridden by flags.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/registry-stack/registry-stack/internal/httpurl"
	"github.com/registry-stack/registry-stack/internal/keycloak"
	"github.com/registry-stack/registry-stack/internal/policy"
)

// Auth modes.
const (
	AuthNone     = "none"
	AuthKeycloak = "keycloak"
	// AuthOIDC: registry-stack issues the registry tokens itself, Keycloak
	// is the identity provider over OpenID Connect, the policy decides.
	AuthOIDC = "oidc"
)

// authModes lists the auth modes, for messages.
const authModes = "none, keycloak, oidc"

// DefaultListen is loopback-only so a forgotten flag never exposes an
// unauthenticated registry to the network.
const DefaultListen = "127.0.0.1:5000"

// DefaultTokenPath matches the path the classic nginx setup used, so existing
// docker configs and bookmarks keep working.
const DefaultTokenPath = "/auth/realms/{realm}/protocol/docker-v2/auth"

// Config is the whole effective configuration of one registry-stack process.
type Config struct {
	Listen        string   `yaml:"listen"`
	PublicURL     string   `yaml:"public_url"`
	DataDir       string   `yaml:"data_dir"`
	Auth          string   `yaml:"auth"`
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// HTTPSecret signs upload state; when empty one is generated and kept in
	// the data dir so resumable uploads survive a restart.
	HTTPSecret string   `yaml:"http_secret" secret:"true"`
	TLS        TLS      `yaml:"tls"`
	HTTP       HTTP     `yaml:"http"`
	Log        Log      `yaml:"log"`
	Storage    Storage  `yaml:"storage"`
	Keycloak   Keycloak `yaml:"keycloak"`
	OIDC       OIDC     `yaml:"oidc"`
	UI         UI       `yaml:"ui"`
	// Proxy makes the registry a pull-through cache of one upstream.
	Proxy Proxy `yaml:"proxy"`
	// Policy decides who may pull, push and delete what in oidc mode.
	Policy policy.Config `yaml:"policy"`
	// Distribution holds sections passed unchanged to the embedded
	// distribution registry (storage, notifications, redis, middleware, ...).
	Distribution map[string]any `yaml:"distribution"`
}

// TLS enables HTTPS on the listener when both files are set.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// HTTP holds settings of the stack's HTTP surface that apply in every auth
// mode: browser origins, request and shutdown timing.
type HTTP struct {
	// CORSOrigins lists exact browser origins (scheme://host[:port]) that
	// may call the registry API and the token endpoint with credentials,
	// such as a registry UI served from another origin; the stack's own
	// origin is always allowed. keycloak.cors_origins is an older spelling,
	// merged in (see Config.CORSOrigins).
	CORSOrigins []string `yaml:"cors_origins"`
	// DrainDelay is how long the listener keeps accepting after SIGTERM
	// while /readyz answers 503, so load balancers stop sending first.
	DrainDelay Duration `yaml:"drain_delay"`
	// BodyIdleTimeout cuts a request body that sends nothing for this
	// long; 0 disables. A slow but steady body is never cut.
	BodyIdleTimeout Duration `yaml:"body_idle_timeout"`
}

// Log selects the one log format used by the whole binary.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Storage holds the registry storage settings registry-stack owns itself.
type Storage struct {
	Delete bool `yaml:"delete"`
	// MinFree is the free space below which /readyz reports the storage
	// not ready, so traffic moves elsewhere before writes start failing.
	// Only the filesystem driver has a free space to measure.
	MinFree Size `yaml:"min_free"`
	// UploadPurgeAge and UploadPurgeInterval drive distribution's purger
	// of abandoned uploads: an upload started longer than the age ago is
	// removed, checked every interval. A passed-through
	// distribution.storage.maintenance.uploadpurging wins.
	UploadPurgeAge      Duration `yaml:"upload_purge_age"`
	UploadPurgeInterval Duration `yaml:"upload_purge_interval"`
}

// Bounds of the upload purge settings: a shorter age would remove uploads
// still in progress over a slow link.
const (
	MinUploadPurgeAge      = time.Hour
	MinUploadPurgeInterval = time.Minute
)

// Keycloak configures token authentication against an external Keycloak.
type Keycloak struct {
	URL     string `yaml:"url"`
	Realm   string `yaml:"realm"`
	Service string `yaml:"service"`
	// Issuer overrides the issuer discovered from the realm's OIDC document.
	Issuer     string   `yaml:"issuer"`
	TokenPath  string   `yaml:"token_path"`
	Timeout    Duration `yaml:"timeout"`
	KeyRefresh Duration `yaml:"key_refresh"`
	// CORSOrigins is the older spelling of http.cors_origins, kept so the
	// seed's configurations work; both lists apply, in every auth mode.
	CORSOrigins []string `yaml:"cors_origins"`
	// ProxyAll passes every /auth/* request through to Keycloak, for
	// single-origin setups (login pages, admin console).
	ProxyAll bool `yaml:"proxy_all"`
	// TrustForwardedHeaders honours X-Forwarded-Proto/Host from a reverse
	// proxy in front of the stack.
	TrustForwardedHeaders bool `yaml:"trust_forwarded_headers"`
}

// OIDC configures auth: oidc, in which registry-stack issues the registry
// tokens itself; keycloak.url and keycloak.realm name the identity provider.
type OIDC struct {
	// ClientID and ClientSecret are registry-stack's OIDC client in the
	// realm, used for password logins (direct-access grants); the secret is
	// empty for a public client.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"true"`
	// Service is the token service: the "service" of challenges and the
	// audience of issued tokens.
	Service   string   `yaml:"service"`
	TokenPath string   `yaml:"token_path"`
	TokenTTL  Duration `yaml:"token_ttl"`
	// SigningKey is a PEM private key file; empty means one generated into
	// data_dir on first start. Replicas share a key by pointing here.
	SigningKey string `yaml:"signing_key"`
	// PreviousSigningKeys keep verifying tokens signed before a rotation.
	PreviousSigningKeys []string `yaml:"previous_signing_keys"`
	// CacheTTL bounds how long a verified login is reused without asking
	// Keycloak (never past the Keycloak token's expiry); 0 disables it.
	CacheTTL Duration `yaml:"cache_ttl"`
	// Audiences are other clients whose Keycloak access tokens are
	// accepted as credentials (CI jobs with a client of their own).
	Audiences []string `yaml:"audiences"`
	// AcceptKeycloakDockerTokens also accepts registry tokens that Keycloak
	// signed in the docker-v2 mode (for a migration).
	AcceptKeycloakDockerTokens bool `yaml:"accept_keycloak_docker_tokens"`
}

// DefaultSigningKeyFile is where the generated token signing key lives,
// relative to data_dir.
const DefaultSigningKeyFile = "token-signing-key.pem"

// UI holds the web UI's runtime settings.
type UI struct {
	Enabled  bool   `yaml:"enabled"`
	Title    string `yaml:"title"`
	PullHost string `yaml:"pull_host"`
	Theme    string `yaml:"theme"`
}

// Proxy makes the registry a read-only pull-through cache of one upstream
// registry (distribution's proxy mode): what clients pull is fetched from
// RemoteURL once and served from local storage afterwards.
type Proxy struct {
	// RemoteURL is the upstream's base URL; empty means no cache.
	RemoteURL string `yaml:"remote_url"`
	// Username and Password are the cache's own credentials at the
	// upstream, used for every pull it makes there.
	Username string `yaml:"username"`
	Password string `yaml:"password" secret:"true"`
	// TTL is how long cached content is kept after it was fetched; 0
	// keeps it for ever.
	TTL Duration `yaml:"ttl"`
}

// DefaultProxyTTL is distribution's own default expiry of cached content.
const DefaultProxyTTL = 7 * 24 * time.Hour

// Duration is a time.Duration written as "30s", "5m" in YAML and env.
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 30s, 5m)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:        DefaultListen,
		DataDir:       "./data",
		Auth:          AuthNone,
		ShutdownGrace: Duration(30 * time.Second),
		HTTP:          HTTP{DrainDelay: Duration(5 * time.Second), BodyIdleTimeout: Duration(60 * time.Second)},
		Log:           Log{Level: "info", Format: "text"},
		Storage: Storage{
			Delete:              true,
			MinFree:             64 << 20,
			UploadPurgeAge:      Duration(24 * time.Hour),
			UploadPurgeInterval: Duration(time.Hour),
		},
		Keycloak: Keycloak{
			TokenPath:  DefaultTokenPath,
			Timeout:    Duration(10 * time.Second),
			KeyRefresh: Duration(5 * time.Minute),
		},
		OIDC: OIDC{
			ClientID:  "registry-stack",
			Service:   "registry-stack",
			TokenPath: "/auth/token",
			TokenTTL:  Duration(5 * time.Minute),
			CacheTTL:  Duration(60 * time.Second),
		},
		UI:    UI{Enabled: true, Title: "registry-stack", Theme: "auto"},
		Proxy: Proxy{TTL: Duration(DefaultProxyTTL)},
	}
}

// Error is a configuration problem; Key names the setting at fault so the
// message tells the user exactly what to fix.
type Error struct {
	Key    string
	Source string // file, env var or flag, when known
	Msg    string
}

func (e *Error) Error() string {
	switch {
	case e.Source != "" && e.Key != "":
		return fmt.Sprintf("%s: %s: %s", e.Source, e.Key, e.Msg)
	case e.Source != "":
		return fmt.Sprintf("%s: %s", e.Source, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.Key, e.Msg)
	}
}

// Flag is one setting given on the command line.
type Flag struct {
	Name  string // the flag, without dashes, for messages
	Key   string // the dotted setting it sets
	Value string
}

// Load builds the effective configuration: defaults, then the YAML file
// (when file is not empty), then REGISTRY_STACK_* variables from environ
// (os.Environ form), then flags; the result is validated. Every error is an
// *Error naming the key and where its value came from.
func Load(file string, environ []string, flags []Flag) (*Config, error) {
	cfg := Default()
	if file != "" {
		if err := cfg.LoadFile(file); err != nil {
			return nil, err
		}
	}
	if err := cfg.LoadEnv(environ); err != nil {
		return nil, err
	}
	for _, f := range flags {
		if err := cfg.Set(f.Key, f.Value, "flag --"+f.Name); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// LoadFile merges the YAML file at path into c. Unknown keys are errors.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Error{Source: "config file " + path, Msg: fmt.Sprintf("cannot read: %v", unwrapPathErr(err))}
	}
	return c.LoadYAML(path, data)
}

// LoadYAML merges YAML text into c; name is used in messages.
func (c *Config) LoadYAML(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return &Error{Source: "config file " + name, Msg: yamlMessage(err)}
	}
	return nil
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// yamlMessage turns yaml.v3's multi-line errors into one line that names the
// unknown key the way the user wrote it.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var parts []string
		for _, m := range te.Errors {
			if sm := unknownField.FindStringSubmatch(m); sm != nil {
				parts = append(parts, fmt.Sprintf("line %s: unknown key %q", sm[1], keyPrefix(sm[3])+sm[2]))
				continue
			}
			parts = append(parts, m)
		}
		return oneLine.Replace(strings.Join(parts, "; "))
	}
	return oneLine.Replace(strings.TrimPrefix(err.Error(), "yaml: "))
}

// oneLine escapes the line breaks of YAML values quoted in yaml.v3's errors.
var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`)

func keyPrefix(typ string) string {
	switch typ {
	case "Config":
		return ""
	case "TLS":
		return "tls."
	default:
		return strings.ToLower(typ) + "."
	}
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Validate checks every setting and fills derived defaults.
func (c *Config) Validate() error {
	if err := c.checkText(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return &Error{Key: "listen", Msg: fmt.Sprintf("%q is not host:port (e.g. 127.0.0.1:5000 or :5000)", c.Listen)}
	}
	switch c.Auth {
	case AuthNone, AuthKeycloak, AuthOIDC:
	default:
		return &Error{Key: "auth", Msg: fmt.Sprintf("%q is not one of %s", c.Auth, authModes)}
	}
	if c.PublicURL != "" {
		u, err := httpurl.ParseBase(c.PublicURL)
		if err != nil {
			return &Error{Key: "public_url", Msg: err.Error()}
		}
		c.PublicURL = u.String()
	}
	if c.DataDir == "" {
		return &Error{Key: "data_dir", Msg: "must not be empty"}
	}
	if c.ShutdownGrace < 0 {
		return &Error{Key: "shutdown_grace", Msg: "must not be negative"}
	}
	if c.Storage.UploadPurgeAge.D() < MinUploadPurgeAge {
		return &Error{Key: "storage.upload_purge_age", Msg: fmt.Sprintf("%s is shorter than %s: uploads still in progress would be removed", c.Storage.UploadPurgeAge.D(), MinUploadPurgeAge)}
	}
	if c.Storage.UploadPurgeInterval.D() < MinUploadPurgeInterval {
		return &Error{Key: "storage.upload_purge_interval", Msg: fmt.Sprintf("%s is shorter than %s", c.Storage.UploadPurgeInterval.D(), MinUploadPurgeInterval)}
	}
	if c.HTTP.DrainDelay < 0 {
		return &Error{Key: "http.drain_delay", Msg: "must not be negative (0 stops accepting at once)"}
	}
	if c.HTTP.BodyIdleTimeout < 0 {
		return &Error{Key: "http.body_idle_timeout", Msg: "must not be negative (0 disables it)"}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return &Error{Key: "tls", Msg: "set both tls.cert and tls.key, or neither"}
	}
	for _, o := range []struct {
		key  string
		list *[]string
	}{{"http.cors_origins", &c.HTTP.CORSOrigins}, {"keycloak.cors_origins", &c.Keycloak.CORSOrigins}} {
		if err := normalizeOrigins(o.key, o.list); err != nil {
			return err
		}
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return &Error{Key: "log.level", Msg: fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level)}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return &Error{Key: "log.format", Msg: fmt.Sprintf("%q is not one of text, json", c.Log.Format)}
	}
	switch c.UI.Theme {
	case "auto", "light", "dark":
	default:
		return &Error{Key: "ui.theme", Msg: fmt.Sprintf("%q is not one of auto, light, dark", c.UI.Theme)}
	}
	for k := range c.Distribution {
		if !slices.Contains(passthroughSections, k) {
			msg := "unknown section (allowed: " + strings.Join(passthroughSections, ", ") + ")"
			if k == "http" {
				// registry:2 users add CORS headers with http.headers.
				msg += "; for a registry UI on another origin set http.cors_origins"
			}
			return &Error{Key: "distribution." + k, Msg: msg}
		}
	}
	if err := c.validateProxy(); err != nil {
		return err
	}
	switch c.Auth {
	case AuthKeycloak:
		if err := c.validateKeycloak(); err != nil {
			return err
		}
	case AuthOIDC:
		if err := c.validateKeycloak(); err != nil {
			return err
		}
		return c.validateOIDC()
	}
	if p := c.Policy; len(p.Admins) > 0 || p.Catalog != nil || len(p.Repositories) > 0 {
		return &Error{Key: "policy", Msg: fmt.Sprintf("applies only with auth: oidc (auth is %s)", c.Auth)}
	}
	return nil
}

// validateKeycloak checks the settings both Keycloak modes share, and in
// keycloak mode its own.
func (c *Config) validateKeycloak() error {
	k := &c.Keycloak
	required := []struct{ key, val, flag string }{
		{"keycloak.url", k.URL, "--keycloak-url"},
		{"keycloak.realm", k.Realm, "--keycloak-realm"},
	}
	if c.Auth == AuthKeycloak {
		required = append(required, struct{ key, val, flag string }{"keycloak.service", k.Service, "--keycloak-service"})
	}
	for _, r := range required {
		if r.val == "" {
			return &Error{Key: r.key, Msg: fmt.Sprintf("required when auth is %s (set it in the config file, %s or %s)", c.Auth, EnvName(r.key), r.flag)}
		}
	}
	realm, err := keycloak.ParseRealm(k.URL, k.Realm)
	if err != nil {
		var re *keycloak.RealmError
		if errors.As(err, &re) {
			return &Error{Key: "keycloak." + re.Setting, Msg: re.Err.Error()}
		}
		return &Error{Key: "keycloak.url", Msg: err.Error()}
	}
	// Docker clients are sent to public_url for their tokens; guessed from
	// an all-interfaces listen address it would say "localhost" to every
	// remote client and fail their logins in a confusing way.
	if c.PublicURL == "" {
		if host, _, _ := net.SplitHostPort(c.Listen); allInterfaces(host) {
			return &Error{Key: "public_url", Msg: fmt.Sprintf("required when auth is %s and listen is %q (all interfaces): set the URL clients use, e.g. https://registry.example.com (config file, %s or --public-url)", c.Auth, c.Listen, EnvName("public_url"))}
		}
	}
	k.URL = realm.BaseURL.String()
	if k.Issuer != "" {
		if _, err := httpurl.ParseBase(k.Issuer); err != nil {
			return &Error{Key: "keycloak.issuer", Msg: err.Error()}
		}
	}
	// Keycloak builds login links and emails from the host it is told; the
	// passthrough must tell it the configured one, never a client's Host.
	if k.ProxyAll && c.PublicURL == "" {
		return &Error{Key: "keycloak.proxy_all", Msg: fmt.Sprintf("needs public_url (config file, %s or --public-url): Keycloak's pages link to it", EnvName("public_url"))}
	}
	if c.Auth == AuthKeycloak && !strings.HasPrefix(k.TokenPath, "/") {
		return &Error{Key: "keycloak.token_path", Msg: fmt.Sprintf("%q must start with /", k.TokenPath)}
	}
	if k.Timeout <= 0 {
		return &Error{Key: "keycloak.timeout", Msg: "must be positive"}
	}
	if k.KeyRefresh <= 0 {
		return &Error{Key: "keycloak.key_refresh", Msg: "must be positive"}
	}
	return nil
}

// validateProxy checks the pull-through cache settings and normalizes
// proxy.remote_url.
func (c *Config) validateProxy() error {
	p := &c.Proxy
	if p.RemoteURL == "" {
		for _, s := range []struct{ key, val string }{{"proxy.username", p.Username}, {"proxy.password", p.Password}} {
			if s.val != "" {
				return &Error{Key: s.key, Msg: fmt.Sprintf("set without proxy.remote_url (config file or %s): credentials for which upstream?", EnvName("proxy.remote_url"))}
			}
		}
		return nil
	}
	if _, ok := c.Distribution["proxy"]; ok {
		return &Error{Key: "distribution.proxy", Msg: "set together with proxy.remote_url: use one of them"}
	}
	u, err := httpurl.ParseBase(p.RemoteURL)
	if err != nil {
		return &Error{Key: "proxy.remote_url", Msg: err.Error()}
	}
	// distribution appends /v2/ to the host alone.
	if u.Path != "" {
		return &Error{Key: "proxy.remote_url", Msg: fmt.Sprintf("%q must be the upstream registry's base URL without a path, e.g. https://registry.example.com", u.Redacted())}
	}
	if c.PublicURL != "" && strings.EqualFold(u.String(), strings.TrimRight(c.PublicURL, "/")) {
		return &Error{Key: "proxy.remote_url", Msg: fmt.Sprintf("%q is this registry's own public_url: the cache would pull from itself", u.String())}
	}
	p.RemoteURL = u.String()
	switch {
	case p.Username != "" && p.Password == "":
		return &Error{Key: "proxy.password", Msg: fmt.Sprintf("required with proxy.username (config file or %s)", EnvName("proxy.password"))}
	case p.Username == "" && p.Password != "":
		return &Error{Key: "proxy.username", Msg: "required with proxy.password"}
	}
	if p.TTL < 0 {
		return &Error{Key: "proxy.ttl", Msg: "must not be negative (0 keeps cached content for ever)"}
	}
	// Expiry removes cached manifests and blobs through distribution's
	// delete, which storage.delete: false turns off.
	if p.TTL > 0 && !c.Storage.Delete {
		return &Error{Key: "proxy.ttl", Msg: fmt.Sprintf("%s needs storage.delete: true to expire cached content (or set proxy.ttl: 0 to keep it for ever)", p.TTL.D())}
	}
	return nil
}

// normalizeOrigins checks each origin of the list at key and writes it back
// in the form browsers send (lower case, no default port).
func normalizeOrigins(key string, list *[]string) error {
	if len(*list) == 0 {
		return nil
	}
	out := make([]string, 0, len(*list))
	for _, o := range *list {
		origin, err := httpurl.ParseOrigin(o)
		if err != nil {
			return &Error{Key: key, Msg: err.Error()}
		}
		out = append(out, origin)
	}
	*list = out
	return nil
}

// CORSOrigins is every origin allowed to call the stack from a browser:
// http.cors_origins, then the older keycloak.cors_origins, without
// duplicates. Both apply in every auth mode; the older spelling gets no
// warning, because existing configurations that use it mean exactly this.
func (c *Config) CORSOrigins() []string {
	var out []string
	for _, o := range append(slices.Clone(c.HTTP.CORSOrigins), c.Keycloak.CORSOrigins...) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

func (c *Config) validateOIDC() error {
	o := &c.OIDC
	for _, r := range []struct{ key, val string }{
		{"oidc.client_id", o.ClientID}, {"oidc.service", o.Service},
	} {
		if strings.TrimSpace(r.val) == "" {
			return &Error{Key: r.key, Msg: "must not be empty when auth is oidc"}
		}
	}
	if !strings.HasPrefix(o.TokenPath, "/") || o.TokenPath == "/" || strings.HasPrefix(o.TokenPath, "/v2") {
		return &Error{Key: "oidc.token_path", Msg: fmt.Sprintf("%q must be an absolute path outside /v2, e.g. /auth/token", o.TokenPath)}
	}
	if o.TokenTTL < Duration(time.Minute) || o.TokenTTL > Duration(time.Hour) {
		return &Error{Key: "oidc.token_ttl", Msg: fmt.Sprintf("%s must be between 1m and 1h", o.TokenTTL.D())}
	}
	if o.CacheTTL < 0 || o.CacheTTL > Duration(10*time.Minute) {
		return &Error{Key: "oidc.cache_ttl", Msg: fmt.Sprintf("%s must be between 0 (off) and 10m", o.CacheTTL.D())}
	}
	if o.AcceptKeycloakDockerTokens && c.Keycloak.Service == "" {
		return &Error{Key: "keycloak.service", Msg: "required with oidc.accept_keycloak_docker_tokens: the docker-v2 client id those tokens are for"}
	}
	if _, err := c.CompilePolicy(); err != nil {
		return err
	}
	return nil
}

// CompilePolicy compiles the policy section; an error names the rule at
// fault as the file writes it.
func (c *Config) CompilePolicy() (*policy.Policy, error) {
	p, err := policy.Compile(c.Policy)
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			return nil, &Error{Key: pe.Key, Msg: pe.Msg}
		}
		return nil, &Error{Key: "policy", Msg: err.Error()}
	}
	return p, nil
}

// SigningKeyFile is the token signing key of oidc mode: oidc.signing_key,
// else the generated one in data_dir.
func (c *Config) SigningKeyFile() string {
	if c.OIDC.SigningKey != "" {
		return c.OIDC.SigningKey
	}
	return filepath.Join(c.DataDir, DefaultSigningKeyFile)
}

// TokenPath returns the token endpoint path with {realm} filled in.
func (c *Config) TokenPath() string {
	return strings.ReplaceAll(c.Keycloak.TokenPath, "{realm}", c.Keycloak.Realm)
}

// passthroughSections are the distribution sections accepted unchanged,
// sorted; every other distribution section is refused by name.
var passthroughSections = []string{"catalog", "middleware", "notifications", "proxy", "redis", "storage", "tags", "validation"}

// PassthroughSections lists the distribution sections accepted unchanged.
func PassthroughSections() []string { return slices.Clone(passthroughSections) }
