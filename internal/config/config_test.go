package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLayering(t *testing.T) {
	c := Default()
	if err := c.LoadYAML("test.yaml", []byte("listen: 0.0.0.0:6000\nlog:\n  format: json\nkeycloak:\n  cors_origins: [https://a.example]\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv([]string{"REGISTRY_STACK_LISTEN=127.0.0.1:7000", "REGISTRY_STACK_KEYCLOAK_TIMEOUT=3s", "REGISTRY_STACK_HTTP_DRAIN_DELAY=0s", "PATH=/bin"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("data_dir", "/srv/data", "flag --data-dir"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ got, want any }{
		{c.Listen, "127.0.0.1:7000"}, // env beats file
		{c.Log.Format, "json"},       // file beats default
		{c.DataDir, "/srv/data"},     // flag
		{c.Keycloak.Timeout.D(), 3 * time.Second},
		{c.Keycloak.CORSOrigins[0], "https://a.example"},
		{c.Storage.Delete, true}, // default
		{c.HTTP.DrainDelay.D(), time.Duration(0)},
		{c.HTTP.BodyIdleTimeout.D(), 60 * time.Second}, // default
	}
	for i, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("check %d: got %v, want %v", i, ch.got, ch.want)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want string
	}{
		{"unknown top-level key", "lisen: x\n", nil, `line 1: unknown key "lisen"`},
		{"unknown nested key", "log:\n  fromat: json\n", nil, `unknown key "log.fromat"`},
		{"unknown tls key", "tls:\n  crt: a\n", nil, `unknown key "tls.crt"`},
		{"bad type", "storage:\n  delete: maybe\n", nil, "maybe"},
		{"bad duration", "shutdown_grace: forever\n", nil, `"forever" is not a duration`},
		{"unknown http key", "http:\n  drain: 1s\n", nil, `unknown key "http.drain"`},
		{"negative drain delay", "http:\n  drain_delay: -1s\n", nil, "http.drain_delay: must not be negative"},
		{"negative body idle timeout", "", []string{"REGISTRY_STACK_HTTP_BODY_IDLE_TIMEOUT=-5s"}, "http.body_idle_timeout: must not be negative"},
		{"bad body idle timeout", "", []string{"REGISTRY_STACK_HTTP_BODY_IDLE_TIMEOUT=1 minute"}, "REGISTRY_STACK_HTTP_BODY_IDLE_TIMEOUT: http.body_idle_timeout"},
		{"bad auth", "auth: basic\n", nil, `auth: "basic" is not one of none, keycloak`},
		{"bad log level", "log:\n  level: loud\n", nil, `log.level: "loud"`},
		{"bad public url", "public_url: localhost:5000\n", nil, "public_url:"},
		{"half tls", "tls:\n  cert: a.pem\n", nil, "tls: set both"},
		{"bad passthrough", "distribution:\n  http: {}\n", nil, "distribution.http: unknown section"},
		{"keycloak needs realm", "auth: keycloak\nkeycloak:\n  url: http://kc\n  service: s\n", nil, "keycloak.realm: required"},
		{"keycloak bad url", "auth: keycloak\nkeycloak:\n  url: kc:8080\n  realm: r\n  service: s\n", nil, "keycloak.url:"},
		{"keycloak on all interfaces needs public url", "auth: keycloak\nlisten: ':5000'\nkeycloak:\n  url: http://kc\n  realm: r\n  service: s\n", nil, "public_url: required when auth is keycloak"},
		{"proxy_all needs public url", "auth: keycloak\nkeycloak:\n  url: http://kc\n  realm: r\n  service: s\n  proxy_all: true\n", nil, "keycloak.proxy_all: needs public_url"},
		{"wildcard origin", "auth: keycloak\nkeycloak:\n  url: http://kc\n  realm: r\n  service: s\n  cors_origins: ['*']\n", nil, "keycloak.cors_origins"},
		{"older origin spelling checked in every mode", "keycloak:\n  cors_origins: [https://ui.example.com/app]\n", nil, "keycloak.cors_origins"},
		{"wildcard http origin", "http:\n  cors_origins: ['*']\n", nil, "http.cors_origins"},
		{"http origin with a path", "http:\n  cors_origins: [https://ui.example.com/app]\n", nil, "http.cors_origins"},
		{"null http origin from env", "", []string{"REGISTRY_STACK_HTTP_CORS_ORIGINS=https://a.example,null"}, "http.cors_origins"},
		{"unknown http key", "http:\n  headers: {}\n", nil, `unknown key "http.headers"`},
		{"registry:2 http section", "distribution:\n  http:\n    headers: {}\n", nil, "set http.cors_origins"},
		{"control character", "oidc:\n  service: \"a\\nb\"\n", nil, `oidc.service: must not contain control characters ('\n' at byte 1)`},
		{"yaml value with a line break", "\"0\\n0\"\n", nil, "`0\\n0` into config.Config"},
		{"unknown env", "", []string{"REGISTRY_STACK_LISTN=x"}, "REGISTRY_STACK_LISTN: unknown setting"},
		{"bad env bool", "", []string{"REGISTRY_STACK_UI_ENABLED=yes please"}, "REGISTRY_STACK_UI_ENABLED: ui.enabled"},
		{"proxy url without scheme", "proxy:\n  remote_url: registry.example.com\n", nil, "proxy.remote_url:"},
		{"proxy url with a path", "proxy:\n  remote_url: https://registry.example.com/v2\n", nil, "proxy.remote_url: \"https://registry.example.com/v2\" must be the upstream registry's base URL"},
		{"proxy url with credentials", "proxy:\n  remote_url: https://u:p@registry.example.com\n", nil, "proxy.remote_url: \"https://u:xxxxx@registry.example.com\" must not carry credentials"},
		{"proxy url from env", "", []string{"REGISTRY_STACK_PROXY_REMOTE_URL=ftp://r.example"}, "proxy.remote_url:"},
		{"proxy username without password", "proxy:\n  remote_url: https://r.example\n  username: cache\n", nil, "proxy.password: required with proxy.username"},
		{"proxy password without username", "proxy:\n  remote_url: https://r.example\n  password: pw\n", nil, "proxy.username: required with proxy.password"},
		{"proxy credentials without url", "proxy:\n  username: cache\n  password: pw\n", nil, "proxy.username: set without proxy.remote_url"},
		{"proxy negative ttl", "", []string{"REGISTRY_STACK_PROXY_REMOTE_URL=https://r.example", "REGISTRY_STACK_PROXY_TTL=-1h"}, "proxy.ttl: must not be negative"},
		{"proxy bad ttl", "proxy:\n  ttl: a week\n", nil, `"a week" is not a duration`},
		{"proxy ttl needs delete", "storage:\n  delete: false\nproxy:\n  remote_url: https://r.example\n", nil, "proxy.ttl: 168h0m0s needs storage.delete: true"},
		{"proxy of itself", "public_url: https://cache.example\nproxy:\n  remote_url: https://cache.example/\n", nil, "proxy.remote_url: \"https://cache.example\" is this registry's own public_url"},
		{"proxy twice", "proxy:\n  remote_url: https://r.example\ndistribution:\n  proxy:\n    remoteurl: https://r.example\n", nil, "distribution.proxy: set together with proxy.remote_url"},
		{"unknown proxy key", "proxy:\n  remoteurl: https://r.example\n", nil, `unknown key "proxy.remoteurl"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := c.LoadYAML("c.yaml", []byte(tc.yaml))
			if err == nil {
				err = c.LoadEnv(tc.env)
			}
			if err == nil {
				err = c.Validate()
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *config.Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %q, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestEnvNamesCoverEveryKey(t *testing.T) {
	c := Default()
	keys := c.Keys()
	if len(keys) < 20 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, k := range keys {
		if err := c.LoadEnv([]string{EnvName(k) + "="}); err != nil && strings.Contains(err.Error(), "unknown setting") {
			t.Errorf("%s is not settable through %s", k, EnvName(k))
		}
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.HTTPSecret = "topsecret"
	c.Proxy.Password = "upstreampw"
	c.Distribution = map[string]any{"storage": map[string]any{"s3": map[string]any{"secretkey": "abc", "bucket": "b"}}, "redis": map[string]any{"password": "pw"}}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, secret := range []string{"topsecret", "upstreampw", "abc", "pw"} {
		if strings.Contains(s, ": "+secret) {
			t.Errorf("secret %q in output:\n%s", secret, s)
		}
	}
	if !strings.Contains(s, "bucket: b") {
		t.Errorf("non-secret value missing:\n%s", s)
	}
	if c.HTTPSecret != "topsecret" {
		t.Error("Redacted modified the config")
	}
}

func TestProxySettings(t *testing.T) {
	c := Default()
	if c.Proxy.RemoteURL != "" || c.Proxy.TTL.D() != DefaultProxyTTL {
		t.Fatalf("default: %+v", c.Proxy)
	}
	env := []string{"REGISTRY_STACK_PROXY_REMOTE_URL=HTTPS://Upstream.example:5000/", "REGISTRY_STACK_PROXY_USERNAME=cache", "REGISTRY_STACK_PROXY_PASSWORD=pw", "REGISTRY_STACK_PROXY_TTL=0s"}
	if err := c.LoadEnv(env); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Proxy.RemoteURL != "https://Upstream.example:5000" || c.Proxy.TTL != 0 {
		t.Fatalf("got %+v", c.Proxy)
	}
}

func TestTokenPath(t *testing.T) {
	c := Default()
	c.Keycloak.Realm = "lab"
	if got := c.TokenPath(); got != "/auth/realms/lab/protocol/docker-v2/auth" {
		t.Fatalf("TokenPath = %q", got)
	}
}

// TestCORSOrigins: both spellings apply in every auth mode, normalised the
// way browsers send an origin, each origin once.
func TestCORSOrigins(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{"none", "", nil, nil},
		{"http section", "http:\n  cors_origins: [https://UI.example.com:443, http://localhost:8080]\n", nil, []string{"https://ui.example.com", "http://localhost:8080"}},
		{"older spelling, auth none", "keycloak:\n  cors_origins: [https://ui.example.com]\n", nil, []string{"https://ui.example.com"}},
		{"both, merged without duplicates", "http:\n  cors_origins: [https://a.example]\nkeycloak:\n  cors_origins: [https://A.example, https://b.example]\n", nil, []string{"https://a.example", "https://b.example"}},
		{"environment", "", []string{"REGISTRY_STACK_HTTP_CORS_ORIGINS=https://a.example, https://b.example:8443"}, []string{"https://a.example", "https://b.example:8443"}},
		{"keycloak mode", "auth: keycloak\nkeycloak:\n  url: http://kc\n  realm: r\n  service: s\n  cors_origins: [https://b.example]\nhttp:\n  cors_origins: [https://a.example]\n", nil, []string{"https://a.example", "https://b.example"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			if err := c.LoadYAML("c.yaml", []byte(tc.yaml)); err != nil {
				t.Fatal(err)
			}
			if err := c.LoadEnv(tc.env); err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.CORSOrigins(); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("CORSOrigins() = %q, want %q", got, tc.want)
			}
		})
	}
}

// check-config's output must mean the same config: an absent
// policy.catalog (anonymous and authenticated) is not an empty one (admins
// only).
func TestRedactedKeepsTheCatalogDefault(t *testing.T) {
	for _, catalog := range [][]string{nil, {}} {
		c := Default()
		c.Auth = AuthOIDC
		c.Keycloak.URL, c.Keycloak.Realm = "https://kc.example", "lab"
		c.Policy.Catalog = catalog
		out, err := c.Redacted()
		if err != nil {
			t.Fatal(err)
		}
		back := Default()
		if err := back.LoadYAML("out.yaml", out); err != nil {
			t.Fatal(err)
		}
		if (back.Policy.Catalog == nil) != (catalog == nil) {
			t.Errorf("catalog %#v printed as\n%s", catalog, out)
		}
	}
}
