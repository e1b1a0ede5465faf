package referrers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/referrers"
	"github.com/registry-stack/registry-stack/internal/signing"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
)

// TestListingNeedsPull: a listing is authorized by the registry's own token
// verification, for pull on the repository.
func TestListingNeedsPull(t *testing.T) {
	key, err := signing.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.NewSet(key)
	if err != nil {
		t.Fatal(err)
	}
	const issuer, service = "https://registry.test", "registry.test"
	ac, err := tokenauth.New(tokenauth.Options{TokenURL: issuer + "/auth/token", Service: service, Issuers: []string{issuer}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	srv := testRegistry(t, referrers.Options{Access: ac})

	mint := func(repo string, actions ...string) string {
		now := time.Now()
		signed, err := keys.Sign(token.ClaimSet{
			Issuer: issuer, Subject: "alice", Audience: []string{service},
			IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiration: now.Add(time.Minute).Unix(),
			Access: []*token.ResourceActions{{Type: "repository", Name: repo, Actions: actions}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	path := "/v2/team/app/referrers/" + digest.FromString("x").String()
	tests := []struct {
		name      string
		token     string
		status    int
		challenge string // a part of WWW-Authenticate
	}{
		{"no token", "", 401, `scope="repository:team/app:pull"`},
		{"pull on the repository", mint("team/app", "pull"), 200, ""},
		{"push only", mint("team/app", "push"), 401, `error="insufficient_scope"`},
		{"pull on another repository", mint("team/other", "pull"), 401, `error="insufficient_scope"`},
		{"not a token", "abc", 401, `error="invalid_token"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != tc.status || !strings.Contains(r.Header.Get("WWW-Authenticate"), tc.challenge) {
				t.Errorf("%s, WWW-Authenticate %q; want %d and %q", r.Status, r.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		})
	}
}
