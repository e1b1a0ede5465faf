package authproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stacktest"
)

// keycloakAdmin creates and removes a scratch realm through Keycloak's admin
// REST API, so the integration tests never touch existing realms.
type keycloakAdmin struct {
	base, user, password string
	client               *http.Client
}

func realKeycloak(t *testing.T) *keycloakAdmin {
	t.Helper()
	kc := stacktest.RequireKeycloak(t)
	base, user, pass := kc.URL, kc.AdminUser, kc.AdminPassword
	return &keycloakAdmin{base: strings.TrimRight(base, "/"), user: user, password: pass, client: &http.Client{Timeout: 30 * time.Second}}
}

func (k *keycloakAdmin) token(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {k.user}, "password": {k.password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.base+"/realms/master/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := k.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("admin token: status %d", resp.StatusCode)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok.AccessToken, nil
}

func (k *keycloakAdmin) do(ctx context.Context, method, path string, body any, wantStatus int) error {
	tok, err := k.token(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.base+"/admin"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, msg)
	}
	return nil
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

type scratchRealm struct {
	realm, service, user, password, tempUser string
}

func (k *keycloakAdmin) createScratchRealm(t *testing.T) scratchRealm {
	t.Helper()
	suffix := randomSuffix(t)
	s := scratchRealm{
		realm:    "rs-authproxy-" + suffix,
		service:  "registry-" + suffix,
		user:     "alice",
		password: "pw-" + suffix,
		tempUser: "newbie",
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.do(ctx, http.MethodPost, "/realms", map[string]any{"realm": s.realm, "enabled": true}, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := k.do(ctx, http.MethodDelete, "/realms/"+s.realm, nil, http.StatusNoContent); err != nil {
			t.Errorf("removing scratch realm: %v", err)
		}
	})
	client := map[string]any{
		"clientId": s.service, "protocol": "docker-v2", "enabled": true,
		"protocolMappers": []map[string]any{{"name": "allow all", "protocol": "docker-v2", "protocolMapper": "docker-v2-allow-all-mapper"}},
	}
	if err := k.do(ctx, http.MethodPost, "/realms/"+s.realm+"/clients", client, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name, password string
		temporary      bool
	}{{s.user, s.password, false}, {s.tempUser, s.password, true}} {
		user := map[string]any{
			"username": u.name, "enabled": true, "emailVerified": true,
			"firstName": u.name, "lastName": "Test", "email": u.name + "@example.com",
			"credentials": []map[string]any{{"type": "password", "value": u.password, "temporary": u.temporary}},
		}
		if err := k.do(ctx, http.MethodPost, "/realms/"+s.realm+"/users", user, http.StatusCreated); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestAgainstRealKeycloak(t *testing.T) {
	k := realKeycloak(t)
	s := k.createScratchRealm(t)

	proxyFor := func(t *testing.T, realm, service string) string {
		t.Helper()
		h, err := New(Options{
			UpstreamURL: mustURL(t, k.base+"/realms/"+url.PathEscape(realm)+"/protocol/docker-v2/auth"),
			Realm:       realm,
			Service:     service,
			Timeout:     10 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	good := proxyFor(t, s.realm, s.service)
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
			name: "no credentials", proxy: good, service: s.service,
			wantStatus: http.StatusUnauthorized, wantChallenge: true, wantCode: "UNAUTHORIZED",
		},
		{
			name: "bad password", proxy: good, service: s.service,
			hdr:        map[string]string{"Authorization": basic(s.user, "wrong")},
			wantStatus: http.StatusUnauthorized, wantChallenge: true, wantCode: "UNAUTHORIZED",
		},
		{
			name: "bad password from the UI", proxy: good, service: s.service,
			hdr:        map[string]string{"Authorization": basic(s.user, "wrong"), "X-Requested-With": "XMLHttpRequest"},
			wantStatus: http.StatusUnauthorized, wantCode: "UNAUTHORIZED",
		},
		{
			name: "temporary password", proxy: good, service: s.service,
			hdr:        map[string]string{"Authorization": basic(s.tempUser, s.password)},
			wantStatus: http.StatusForbidden, wantCode: "DENIED", wantInMsg: []string{"UPDATE_PASSWORD"},
		},
		{
			name: "configured service has no client", proxy: proxyFor(t, s.realm, "missing-"+s.service), service: "missing-" + s.service,
			hdr:        map[string]string{"Authorization": basic(s.user, s.password)},
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN", wantInMsg: []string{"keycloak.service", `"missing-` + s.service + `"`},
		},
		{
			name: "client asks for an unknown service", proxy: good, service: "other",
			hdr:        map[string]string{"Authorization": basic(s.user, s.password)},
			wantStatus: http.StatusBadRequest, wantCode: "DENIED", wantInMsg: []string{`"other"`, "keycloak.service"},
		},
		{
			name: "unknown realm", proxy: proxyFor(t, "missing-"+s.realm, s.service), service: s.service,
			hdr:        map[string]string{"Authorization": basic(s.user, s.password)},
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN", wantInMsg: []string{"keycloak.realm", `"missing-` + s.realm + `"`},
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
		resp := get(t, good+query(s.service), map[string]string{"Authorization": basic(s.user, s.password)})
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
