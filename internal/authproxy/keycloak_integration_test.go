package authproxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/keycloaktest"
)

func TestAgainstRealKeycloak(t *testing.T) {
	s := keycloaktest.NewRealm(t, keycloaktest.Require(t), "rs-authproxy")
	const tempUser = "newbie" // must change the password before getting a token
	s.AddUserWithTemporaryPassword(t, tempUser, s.Password)

	proxyFor := func(t *testing.T, realm, service string) string {
		t.Helper()
		h, err := New(Options{
			UpstreamURL:   mustURL(t, keycloaktest.Realm{Server: s.Server, Name: realm}.Endpoints(t).DockerAuthURL()),
			KeycloakRealm: realm,
			Service:       service,
			Timeout:       10 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	good := proxyFor(t, s.Name, s.Service)
	query := func(service string) string {
		return "?" + url.Values{"service": {service}, "scope": {"repository:team/app:pull,push"}}.Encode()
	}

	tests := []struct {
		name          string
		proxy         string
		service       string
		hdr           map[string]string
		wantStatus    int
		wantChallenge bool
		wantCode      string
		wantInMsg     []string
	}{
		{
			name: "no credentials", proxy: good, service: s.Service,
			wantStatus: http.StatusUnauthorized, wantChallenge: true, wantCode: "UNAUTHORIZED",
		},
		{
			name: "bad password", proxy: good, service: s.Service,
			hdr:        map[string]string{"Authorization": basic(s.User, "wrong")},
			wantStatus: http.StatusUnauthorized, wantChallenge: true, wantCode: "UNAUTHORIZED",
		},
		{
			name: "bad password from the UI", proxy: good, service: s.Service,
			hdr:        map[string]string{"Authorization": basic(s.User, "wrong"), "X-Requested-With": "XMLHttpRequest"},
			wantStatus: http.StatusUnauthorized, wantCode: "UNAUTHORIZED",
		},
		{
			name: "temporary password", proxy: good, service: s.Service,
			hdr:        map[string]string{"Authorization": basic(tempUser, s.Password)},
			wantStatus: http.StatusForbidden, wantCode: "DENIED", wantInMsg: []string{"UPDATE_PASSWORD"},
		},
		{
			name: "configured service has no client", proxy: proxyFor(t, s.Name, "missing-"+s.Service), service: "missing-" + s.Service,
			hdr:        map[string]string{"Authorization": basic(s.User, s.Password)},
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN", wantInMsg: []string{"keycloak.service", `"missing-` + s.Service + `"`},
		},
		{
			name: "client asks for an unknown service", proxy: good, service: "other",
			hdr:        map[string]string{"Authorization": basic(s.User, s.Password)},
			wantStatus: http.StatusBadRequest, wantCode: "DENIED", wantInMsg: []string{`"other"`, "keycloak.service"},
		},
		{
			name: "unknown realm", proxy: proxyFor(t, "missing-"+s.Name, s.Service), service: s.Service,
			hdr:        map[string]string{"Authorization": basic(s.User, s.Password)},
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN", wantInMsg: []string{"keycloak.realm", `"missing-` + s.Name + `"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, tt.proxy+query(tt.service), tt.hdr)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if tt.wantChallenge != (challenge == `Basic realm="registry-stack"`) || (!tt.wantChallenge && challenge != "") {
				t.Errorf("WWW-Authenticate = %q, want challenge %v", challenge, tt.wantChallenge)
			}
			e := decodeError(t, body)
			if e.Code != tt.wantCode {
				t.Errorf("code = %s, want %s (%s)", e.Code, tt.wantCode, body)
			}
			for _, want := range tt.wantInMsg {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q lacks %q", e.Message, want)
				}
			}
		})
	}

	t.Run("good credentials", func(t *testing.T) {
		resp := get(t, good+query(s.Service), map[string]string{"Authorization": basic(s.User, s.Password)})
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("status = %d: %s", resp.StatusCode, b)
		}
		if ct := resp.Header.Get("Content-Type"); !isJSON(ct) {
			t.Errorf("Content-Type = %q", ct)
		}
		if c := resp.Header.Get("Set-Cookie"); c != "" {
			t.Errorf("Keycloak session cookie passed on: %.20s…", c)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control = %q", cc)
		}
		var tok struct {
			Token     string `json:"token"`
			ExpiresIn int    `json:"expires_in"`
			IssuedAt  string `json:"issued_at"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			t.Fatal(err)
		}
		if strings.Count(tok.Token, ".") != 2 || tok.ExpiresIn <= 0 {
			t.Errorf("not a token answer: token of %d bytes, expires_in %d", len(tok.Token), tok.ExpiresIn)
		}
		if _, err := time.Parse(time.RFC3339, tok.IssuedAt); err != nil {
			t.Errorf("issued_at %q: %v", tok.IssuedAt, err)
		}
	})
}
