// Package keycloak knows the Keycloak endpoints registry-stack relies on: the
// realm's docker-v2 token endpoint, its OIDC discovery document and its JWKS,
// and how Keycloak names its docker token signing keys.
package keycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/registry-stack/registry-stack/internal/httpurl"
)

// defaultHTTPTimeout bounds outbound calls when the caller supplies no client.
const defaultHTTPTimeout = 10 * time.Second

// maxDocumentBytes caps discovery and JWKS bodies; both are a few KiB.
const maxDocumentBytes = 1 << 20

// Realm is one realm of one Keycloak server.
type Realm struct {
	// BaseURL is where Keycloak is reached, including any context path
	// (such as /auth for Keycloak before 17).
	BaseURL *url.URL
	Name    string
}

// RealmError says which half of a realm's address is wrong: Setting is
// "url" or "realm", so callers can name their own key or flag for it.
type RealmError struct {
	Setting string
	Err     error
}

func (e *RealmError) Error() string { return "keycloak." + e.Setting + ": " + e.Err.Error() }

func (e *RealmError) Unwrap() error { return e.Err }

// ParseRealm is the one check of a Keycloak address: the server's base URL
// (by the http(s) URL rule of package httpurl) and a realm name that stays
// one path segment. Errors are *RealmError.
func ParseRealm(rawURL, name string) (Realm, error) {
	u, err := httpurl.ParseBase(rawURL)
	if err != nil {
		return Realm{}, &RealmError{Setting: "url", Err: err}
	}
	if strings.TrimSpace(name) == "" {
		return Realm{}, &RealmError{Setting: "realm", Err: errors.New("must be set")}
	}
	if strings.ContainsAny(name, "/?#") || name == "." || name == ".." {
		return Realm{}, &RealmError{Setting: "realm", Err: fmt.Errorf("%q must be a single path segment", name)}
	}
	return Realm{BaseURL: u, Name: name}, nil
}

// IssuerURL is the issuer Keycloak puts into tokens when reached at BaseURL.
func (r Realm) IssuerURL() string { return r.join() }

// DockerAuthURL is the realm's docker-v2 token endpoint.
func (r Realm) DockerAuthURL() string { return r.join("protocol", "docker-v2", "auth") }

// OIDCTokenURL is the realm's OpenID Connect token endpoint (password,
// client-credentials and refresh-token grants).
func (r Realm) OIDCTokenURL() string { return r.join("protocol", "openid-connect", "token") }

// CertsURL is the realm's JWKS endpoint.
func (r Realm) CertsURL() string { return r.join("protocol", "openid-connect", "certs") }

// DiscoveryURL is the realm's OIDC discovery document.
func (r Realm) DiscoveryURL() string { return r.join(".well-known", "openid-configuration") }

func (r Realm) join(elem ...string) string {
	// JoinPath treats its arguments as escaped paths, so the realm name is
	// escaped first to stay one segment even with spaces or percent signs.
	return r.BaseURL.JoinPath(append([]string{"realms", url.PathEscape(r.Name)}, elem...)...).String()
}

// DiscoverIssuer reads the issuer from the realm's OIDC discovery document.
// Keycloak derives it from the URL it was reached at (unless its hostname is
// pinned), so it is the most reliable value for token verification.
func DiscoverIssuer(ctx context.Context, client *http.Client, r Realm) (string, error) {
	u := r.DiscoveryURL()
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := getJSON(ctx, client, u, &doc); err != nil {
		return "", err
	}
	if doc.Issuer == "" {
		return "", fmt.Errorf("keycloak discovery %s: no issuer in document", u)
	}
	return doc.Issuer, nil
}

// getJSON fetches u and decodes a JSON body of at most maxDocumentBytes.
func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	if client == nil {
		client = defaultClient()
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultHTTPTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("keycloak %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// client errors already name the URL.
		return fmt.Errorf("keycloak: %w", err)
	}
	defer DrainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("keycloak %s: unexpected status %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("keycloak %s: reading body: %w", u, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("keycloak %s: body larger than %d bytes", u, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("keycloak %s: decoding JSON: %w", u, err)
	}
	return nil
}
