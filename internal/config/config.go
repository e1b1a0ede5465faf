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
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/registry-stack/registry-stack/internal/httpurl"
	"github.com/registry-stack/registry-stack/internal/keycloak"
)

// Auth modes.
const (
	AuthNone     = "none"
	AuthKeycloak = "keycloak"
)

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
	Log        Log      `yaml:"log"`
	Storage    Storage  `yaml:"storage"`
	Keycloak   Keycloak `yaml:"keycloak"`
	UI         UI       `yaml:"ui"`
	// Distribution holds sections passed unchanged to the embedded
	// distribution registry (storage, notifications, redis, middleware, ...).
	Distribution map[string]any `yaml:"distribution"`
}

// TLS enables HTTPS on the listener when both files are set.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Log selects the one log format used by the whole binary.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Storage holds the registry storage settings registry-stack owns itself.
type Storage struct {
	Delete bool `yaml:"delete"`
}

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
	// CORSOrigins lists exact origins allowed to call the token endpoint
	// from a browser; the stack's own origin is always allowed.
	CORSOrigins []string `yaml:"cors_origins"`
	// ProxyAll passes every /auth/* request through to Keycloak, for
	// single-origin setups (login pages, admin console).
	ProxyAll bool `yaml:"proxy_all"`
	// TrustForwardedHeaders honours X-Forwarded-Proto/Host from a reverse
	// proxy in front of the stack.
	TrustForwardedHeaders bool `yaml:"trust_forwarded_headers"`
}

// UI holds the web UI's runtime settings.
type UI struct {
	Enabled  bool   `yaml:"enabled"`
	Title    string `yaml:"title"`
	PullHost string `yaml:"pull_host"`
	Theme    string `yaml:"theme"`
}

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
		Log:           Log{Level: "info", Format: "text"},
		Storage:       Storage{Delete: true},
		Keycloak: Keycloak{
			TokenPath:  DefaultTokenPath,
			Timeout:    Duration(10 * time.Second),
			KeyRefresh: Duration(5 * time.Minute),
		},
		UI: UI{Enabled: true, Title: "registry-stack", Theme: "auto"},
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
		return strings.Join(parts, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

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
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return &Error{Key: "listen", Msg: fmt.Sprintf("%q is not host:port (e.g. 127.0.0.1:5000 or :5000)", c.Listen)}
	}
	switch c.Auth {
	case AuthNone, AuthKeycloak:
	default:
		return &Error{Key: "auth", Msg: fmt.Sprintf("%q is not one of none, keycloak", c.Auth)}
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
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return &Error{Key: "tls", Msg: "set both tls.cert and tls.key, or neither"}
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
			return &Error{Key: "distribution." + k, Msg: "unknown section (allowed: " + strings.Join(passthroughSections, ", ") + ")"}
		}
	}
	if c.Auth == AuthKeycloak {
		return c.validateKeycloak()
	}
	return nil
}

func (c *Config) validateKeycloak() error {
	k := &c.Keycloak
	required := []struct{ key, val, flag string }{
		{"keycloak.url", k.URL, "--keycloak-url"},
		{"keycloak.realm", k.Realm, "--keycloak-realm"},
		{"keycloak.service", k.Service, "--keycloak-service"},
	}
	for _, r := range required {
		if r.val == "" {
			return &Error{Key: r.key, Msg: fmt.Sprintf("required when auth is keycloak (set it in the config file, %s or %s)", EnvName(r.key), r.flag)}
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
		host, _, _ := net.SplitHostPort(c.Listen)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return &Error{Key: "public_url", Msg: fmt.Sprintf("required when auth is keycloak and listen is %q (all interfaces): set the URL clients use, e.g. https://registry.example.com (config file, %s or --public-url)", c.Listen, EnvName("public_url"))}
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
	if !strings.HasPrefix(k.TokenPath, "/") {
		return &Error{Key: "keycloak.token_path", Msg: fmt.Sprintf("%q must start with /", k.TokenPath)}
	}
	if k.Timeout <= 0 {
		return &Error{Key: "keycloak.timeout", Msg: "must be positive"}
	}
	if k.KeyRefresh <= 0 {
		return &Error{Key: "keycloak.key_refresh", Msg: "must be positive"}
	}
	origins := make([]string, 0, len(k.CORSOrigins))
	for _, o := range k.CORSOrigins {
		origin, err := httpurl.ParseOrigin(o)
		if err != nil {
			return &Error{Key: "keycloak.cors_origins", Msg: err.Error()}
		}
		origins = append(origins, origin)
	}
	k.CORSOrigins = origins
	return nil
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
