// Package dockertoken asks a docker token endpoint for a token the way
// `docker login` does: GET with service and scope and Basic credentials.
// It serves Keycloak's docker-v2 endpoint and registry-stack's own alike,
// for the tests and the token-bench benchmark.
package dockertoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Request is what a client sends for a token.
type Request struct {
	Service string
	// Scope is left out of the query when empty (a token without access,
	// as for a sign-in check).
	Scope    string
	User     string
	Password string
}

// defaultTimeout bounds a request when the caller gives no client.
const defaultTimeout = 30 * time.Second

// Fetch asks endpoint for a token and returns it. Anything but a 200 with a
// token is an error quoting the status and the start of the body; a
// redirect (such as Keycloak's page for a required action) is not followed
// but reported with its Location. client may be nil.
func Fetch(ctx context.Context, client *http.Client, endpoint string, r Request) (string, error) {
	q := url.Values{"service": {r.Service}}
	if r.Scope != "" {
		q.Set("scope", r.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	if r.User != "" || r.Password != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	noRedirects := http.Client{Timeout: defaultTimeout}
	if client != nil {
		noRedirects = *client
	}
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirects.Do(req)
	if err != nil {
		return "", err // names the URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("token from %s: %s: reading body: %w", endpoint, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		where := ""
		if loc := resp.Header.Get("Location"); loc != "" {
			where = fmt.Sprintf(" (Location %q)", loc)
		}
		return "", fmt.Errorf("token from %s: %s%s: %.300s", endpoint, resp.Status, where, body)
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Token == "" {
		return "", fmt.Errorf("token from %s: no token in the answer (%v): %.300s", endpoint, err, body)
	}
	return answer.Token, nil
}

// DecodeUnverified decodes a compact JWT's header and claims into the given
// values (either may be nil) without checking its signature: for looking at
// what a server issued, never for trusting it.
func DecodeUnverified(token string, header, claims any) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("token has %d parts, want 3", len(parts))
	}
	for i, dst := range []any{header, claims} {
		if dst == nil {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return fmt.Errorf("decode token part %d: %w", i+1, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("parse token part %d: %w: %s", i+1, err, raw)
		}
	}
	return nil
}
