package keycloak

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseRealm(t *testing.T) {
	tests := []struct {
		name, url, realm string
		wantErr          string // substring; empty means success
		wantIssuer       string
	}{
		{name: "plain", url: "https://kc.example.test", realm: "r", wantIssuer: "https://kc.example.test/realms/r"},
		{name: "trailing slash", url: "https://kc.example.test/", realm: "r", wantIssuer: "https://kc.example.test/realms/r"},
		{name: "legacy context path", url: "http://kc.example.test:8080/auth/", realm: "r", wantIssuer: "http://kc.example.test:8080/auth/realms/r"},
		{name: "realm needing escaping", url: "https://kc.example.test", realm: "my realm%", wantIssuer: "https://kc.example.test/realms/my%20realm%25"},
		{name: "empty url", url: "", realm: "r", wantErr: "keycloak.url"},
		{name: "bad scheme", url: "ftp://kc.example.test", realm: "r", wantErr: "keycloak.url"},
		{name: "no host", url: "https://", realm: "r", wantErr: "keycloak.url"},
		{name: "unparsable", url: "https://kc.example.test/%zz", realm: "r", wantErr: "keycloak.url"},
		{name: "credentials", url: "https://u:secret@kc.example.test", realm: "r", wantErr: "keycloak.url"},
		{name: "query", url: "https://kc.example.test?x=1", realm: "r", wantErr: "keycloak.url"},
		{name: "empty realm", url: "https://kc.example.test", realm: " ", wantErr: "keycloak.realm"},
		{name: "realm with slash", url: "https://kc.example.test", realm: "a/b", wantErr: "keycloak.realm"},
		{name: "dot-dot realm", url: "https://kc.example.test", realm: "..", wantErr: "keycloak.realm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRealm(tt.url, tt.realm)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRealm(%q, %q) error = %v, want one naming %s", tt.url, tt.realm, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRealm(%q, %q): %v", tt.url, tt.realm, err)
			}
			if got := r.IssuerURL(); got != tt.wantIssuer {
				t.Errorf("IssuerURL() = %q, want %q", got, tt.wantIssuer)
			}
		})
	}
}

func TestRealmURLs(t *testing.T) {
	r, err := ParseRealm("http://kc.example.test/auth", "dev")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"issuer", r.IssuerURL(), "http://kc.example.test/auth/realms/dev"},
		{"docker auth", r.DockerAuthURL(), "http://kc.example.test/auth/realms/dev/protocol/docker-v2/auth"},
		{"certs", r.CertsURL(), "http://kc.example.test/auth/realms/dev/protocol/openid-connect/certs"},
		{"discovery", r.DiscoveryURL(), "http://kc.example.test/auth/realms/dev/.well-known/openid-configuration"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s URL = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	// The methods must not modify the shared BaseURL.
	if r.BaseURL.String() != "http://kc.example.test/auth" {
		t.Errorf("BaseURL changed to %q", r.BaseURL)
	}
}

func TestDiscoverIssuer(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		delay   time.Duration
		want    string
		wantErr string
	}{
		{name: "ok", status: 200, body: `{"issuer":"https://kc.example.test/realms/dev","jwks_uri":"x"}`, want: "https://kc.example.test/realms/dev"},
		{name: "not found", status: 404, body: `{"error":"Realm does not exist"}`, wantErr: "404"},
		{name: "no issuer", status: 200, body: `{}`, wantErr: "no issuer"},
		{name: "garbage", status: 200, body: `<html>`, wantErr: "decoding JSON"},
		{name: "hangs", status: 200, body: `{}`, delay: 5 * time.Second, wantErr: "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path != "/realms/dev/.well-known/openid-configuration" {
					http.NotFound(w, req)
					return
				}
				if tt.delay > 0 {
					select {
					case <-req.Context().Done():
						return
					case <-time.After(tt.delay):
					}
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			r, err := ParseRealm(srv.URL, "dev")
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 2 * time.Second} // under the 5 s hang, far above a loaded machine's loopback latency
			got, err := DiscoverIssuer(context.Background(), client, r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DiscoverIssuer error = %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), srv.URL) {
					t.Errorf("error %q does not name the URL", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("issuer = %q, want %q", got, tt.want)
			}
		})
	}
}
