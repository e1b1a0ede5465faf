package bootstrap

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidation(t *testing.T) {
	valid := Options{Connection: Connection{KeycloakURL: "http://kc:8080", AdminUser: "a", AdminPassword: "p"}, Realm: "r", Service: "s"}
	tests := []struct {
		name   string
		modify func(*Options)
		want   string // substring of the error; empty means valid
	}{
		{"valid", func(*Options) {}, ""},
		{"valid with user", func(o *Options) { o.User, o.Password = "u", "pw" }, ""},
		{"missing url and realm", func(o *Options) { o.KeycloakURL, o.Realm = "", "" }, "missing --keycloak-url, --realm"},
		{"missing admin password", func(o *Options) { o.AdminPassword = "" }, "missing --admin-password"},
		{"missing realm and service", func(o *Options) { o.Realm, o.Service = "", " " }, "missing --realm, --service"},
		{"not http", func(o *Options) { o.KeycloakURL = "ftp://kc" }, `--keycloak-url: "ftp://kc" must start with http:// or https://`},
		{"no host", func(o *Options) { o.KeycloakURL = "http:///auth" }, `--keycloak-url: "http:///auth" has no host`},
		{"query", func(o *Options) { o.KeycloakURL = "http://kc/?x=1" }, "--keycloak-url: \"http://kc/?…\" must not carry a query or fragment"},
		{"user without password", func(o *Options) { o.User = "u" }, "--user and --password must be given together"},
		{"password without user", func(o *Options) { o.Password = "pw" }, "--user and --password must be given together"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "--timeout must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.modify(&o)
			err := o.normalize()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidOptions)):
				t.Fatalf("error = %v, want ErrInvalidOptions containing %q", err, tt.want)
			}
			if tt.want == "" && (o.AdminRealm != DefaultAdminRealm || o.Timeout != DefaultTimeout) {
				t.Errorf("defaults not applied: %+v", o)
			}
		})
	}
}

func TestConfigSnippet(t *testing.T) {
	tests := []struct {
		name string
		res  Result
		want string
	}{
		{
			name: "plain",
			res:  Result{KeycloakURL: "http://127.0.0.1:8080", Realm: "registry-stack", Service: "registry-stack"},
			want: "auth: keycloak\nkeycloak:\n  url: http://127.0.0.1:8080\n  realm: registry-stack\n  service: registry-stack\n",
		},
		{
			name: "legacy auth path",
			res:  Result{KeycloakURL: "https://sso.example.test/auth", Realm: "corp", Service: "docker"},
			want: "auth: keycloak\nkeycloak:\n  url: https://sso.example.test/auth\n  realm: corp\n  service: docker\n",
		},
		{
			name: "values YAML would misread",
			res:  Result{KeycloakURL: "http://kc", Realm: "123", Service: "yes"},
			want: "auth: keycloak\nkeycloak:\n  url: http://kc\n  realm: \"123\"\n  service: \"yes\"\n",
		},
		{
			name: "spaces and quotes",
			res:  Result{KeycloakURL: "http://kc", Realm: `my "realm" #1`, Service: "a: b"},
			want: "auth: keycloak\nkeycloak:\n  url: http://kc\n  realm: \"my \\\"realm\\\" #1\"\n  service: \"a: b\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.res.ConfigSnippet(); got != tt.want {
				t.Errorf("ConfigSnippet() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
