package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/registry-stack/registry-stack/internal/keycloak"
)

// maxGrantBody caps a Keycloak token answer: tokens are a few KiB, groups
// and roles included.
const maxGrantBody = 1 << 20

// errNotARobot means the user name is not a robot's client id (or that
// client has no service account), so the credentials are a user's.
var errNotARobot = errors.New("not a robot client")

type grantAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
	status       int
}

// grant posts form to the realm's token endpoint.
func (a *Authenticator) grant(ctx context.Context, form url.Values) (*grantAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, misconfigured("cannot build the Keycloak token request", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		// The URL is for the log (cause), not for anonymous callers.
		return nil, unavailable("Keycloak is unreachable: try again later", fmt.Errorf("%s: %w", a.tokenURL, err))
	}
	defer keycloak.DrainClose(resp.Body)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGrantBody))
	if err != nil {
		return nil, unavailable("Keycloak's answer was cut off: try again later", err)
	}
	var ans grantAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusNotFound {
			return nil, unavailable("Keycloak failed to answer: try again later", fmt.Errorf("%s answered %s: check keycloak.url and keycloak.realm", a.tokenURL, resp.Status))
		}
		return nil, unavailable("Keycloak's answer was not JSON: try again later", fmt.Errorf("%s answered %s with no JSON", a.tokenURL, resp.Status))
	}
	ans.status = resp.StatusCode
	return &ans, nil
}

func (a *Authenticator) clientForm(grantType string) url.Values {
	f := url.Values{"grant_type": {grantType}, "client_id": {a.o.ClientID}}
	if a.o.ClientSecret != "" {
		f.Set("client_secret", a.o.ClientSecret)
	}
	return f
}

// clientCredentials logs a robot in with its own client id and secret; the
// roles and groups of the client's service-account user apply.
func (a *Authenticator) clientCredentials(ctx context.Context, clientID, secret string) (*Identity, error) {
	ans, err := a.grant(ctx, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	if err != nil {
		return nil, err
	}
	switch {
	case ans.status == http.StatusOK && ans.AccessToken != "":
		// Issued to the robot's own client, fetched by the stack itself.
		id, err := a.fromAccessToken(ctx, ans.AccessToken, false)
		if err != nil {
			return nil, err
		}
		id.Kind = KindRobot
		return id, nil
	case ans.Error == "invalid_client", ans.Error == "unauthorized_client":
		// No such client, a wrong secret or no service account: maybe a
		// user. Keycloak does not say which, on purpose.
		return nil, errNotARobot
	}
	return nil, a.keycloakRefused(ans, "")
}

// passwordGrant logs a user in through registry-stack's OIDC client.
func (a *Authenticator) passwordGrant(ctx context.Context, user, password string) (*Identity, error) {
	f := a.clientForm("password")
	f.Set("username", user)
	f.Set("password", password)
	f.Set("scope", "openid")
	ans, err := a.grant(ctx, f)
	if err != nil {
		return nil, err
	}
	if id, ok, err := a.granted(ctx, ans); ok {
		return id, err
	}
	return nil, a.keycloakRefused(ans, user)
}

// granted reads the identity from a successful user grant; ok is false when
// Keycloak refused.
func (a *Authenticator) granted(ctx context.Context, ans *grantAnswer) (id *Identity, ok bool, err error) {
	if ans.status != http.StatusOK || ans.AccessToken == "" {
		return nil, false, nil
	}
	// Fetched by the stack itself for its own client.
	if id, err = a.fromAccessToken(ctx, ans.AccessToken, false); err != nil {
		return nil, true, err
	}
	id.RefreshToken = ans.RefreshToken
	return id, true, nil
}

func (a *Authenticator) refreshGrant(ctx context.Context, refreshToken string) (*Identity, error) {
	f := a.clientForm("refresh_token")
	f.Set("refresh_token", refreshToken)
	ans, err := a.grant(ctx, f)
	if err != nil {
		return nil, err
	}
	if id, ok, err := a.granted(ctx, ans); ok {
		return id, err
	}
	if ans.Error == "invalid_grant" {
		return nil, invalidCredentials("the refresh token is no longer valid: log in again", errors.New(ans.Description))
	}
	return nil, a.keycloakRefused(ans, "")
}

// keycloakRefused turns Keycloak's OAuth error into what the user should
// do. Keycloak's own wording is kept out of the message (it may change
// between releases) but logged as the cause.
func (a *Authenticator) keycloakRefused(ans *grantAnswer, user string) error {
	cause := fmt.Errorf("keycloak: %d %s: %s", ans.status, ans.Error, ans.Description)
	desc := strings.ToLower(ans.Description)
	switch ans.Error {
	case "invalid_grant":
		switch {
		case strings.Contains(desc, "not fully set up"):
			return denied(fmt.Sprintf("the Keycloak account %q must complete a required action first (such as setting up a one-time password), which a password login cannot do: sign in once in a browser, or use an access token or a robot account", user), cause)
		case strings.Contains(desc, "disabled"):
			return denied(fmt.Sprintf("the Keycloak account %q is disabled", user), cause)
		}
		return invalidCredentials("invalid user name or password", cause)
	case "invalid_client":
		return misconfigured(fmt.Sprintf("Keycloak refused registry-stack's client %q: check oidc.client_id and oidc.client_secret", a.o.ClientID), cause)
	case "unauthorized_client":
		return misconfigured(fmt.Sprintf("Keycloak's client %q does not allow password logins: enable direct access grants on it (registry-stack bootstrap does)", a.o.ClientID), cause)
	}
	if ans.status >= 500 {
		return unavailable("Keycloak failed to answer: try again later", cause)
	}
	return misconfigured(fmt.Sprintf("Keycloak refused the login with %d %s", ans.status, ans.Error), cause)
}
