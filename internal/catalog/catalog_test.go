package catalog_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"

	"github.com/registry-stack/registry-stack/internal/catalog"
	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/signing"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
	"github.com/registry-stack/registry-stack/internal/tokenserver"
)

const issuer, service = "https://registry.example.com", "registry-stack"

// newFixture is a real registry over filesystem storage holding the
// (empty) repositories repos, a key set to sign tokens with, its verifier,
// and the policy of grants.
func newFixture(tb testing.TB, repos []string, grants map[string][]policy.Grant) (*registry.Registry, *signing.Set, *tokenauth.Verifier, *policy.Policy) {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	reg, err := registry.New(context.Background(), &cfg, registry.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = reg.Shutdown() })
	root := filepath.Join(cfg.DataDir, "registry", "docker", "registry", "v2", "repositories")
	for _, n := range repos {
		if err := os.MkdirAll(filepath.Join(root, n, "_manifests"), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	key, err := signing.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := signing.NewSet(key)
	if err != nil {
		tb.Fatal(err)
	}
	verifier, err := tokenauth.NewVerifier(tokenauth.VerifierOptions{Keys: keys, Issuers: []string{issuer}})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := policy.Compile(policy.Config{Repositories: grants})
	if err != nil {
		tb.Fatal(err)
	}
	return reg, keys, verifier, p
}

// TestFilteredCatalog runs the filter on a real registry over filesystem
// storage, with tokens signed by a real key set.
func TestFilteredCatalog(t *testing.T) {
	reg, keys, verifier, p := newFixture(t,
		[]string{"bulk/a", "bulk/b", "public/one", "public/two", "team-a/app", "team-a/base", "team-a/tools", "team-b/app"},
		map[string][]policy.Grant{
			"team-a/**": {{Who: []string{"group:/team-a"}, Actions: []string{"pull"}}},
			"public/**": {{Who: []string{"anonymous", "authenticated"}, Actions: []string{"pull"}}},
		})
	registryHit := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { registryHit++; w.WriteHeader(http.StatusUnauthorized) })
	h := catalog.New(catalog.Options{Lister: reg, Verifier: verifier, Service: service, Policy: policy.NewLive(p)}, next)

	tok := func(id *tokenserver.IdentityClaim, access ...*token.ResourceActions) string {
		now := time.Now()
		s, err := keys.Sign(tokenserver.Claims{
			ClaimSet: token.ClaimSet{Issuer: issuer, Audience: []string{service}, Subject: "x",
				Expiration: now.Add(time.Minute).Unix(), NotBefore: now.Add(-time.Minute).Unix(), IssuedAt: now.Unix(), Access: access},
			Identity: id,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	catalogAccess := &token.ResourceActions{Type: "registry", Name: "catalog", Actions: []string{"*"}}
	alice := tok(&tokenserver.IdentityClaim{User: "alice", Groups: []string{"/team-a"}}, catalogAccess)
	get := func(target, bearer string) (*httptest.ResponseRecorder, []string) {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var body struct{ Repositories []string }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w, body.Repositories
	}

	w, repos := get("/v2/_catalog", alice)
	if want := []string{"public/one", "public/two", "team-a/app", "team-a/base", "team-a/tools"}; w.Code != 200 || !slices.Equal(repos, want) {
		t.Fatalf("alice's catalog = %d %v, want %v", w.Code, repos, want)
	}
	// Paging: n and last, with a Link to the next page while there is one.
	var paged []string
	target := "/v2/_catalog?n=2"
	for target != "" {
		w, repos = get(target, alice)
		paged = append(paged, repos...)
		target = ""
		if link := w.Header().Get("Link"); link != "" {
			target = link[1 : len(link)-len(`>; rel="next"`)]
		}
	}
	if want := []string{"public/one", "public/two", "team-a/app", "team-a/base", "team-a/tools"}; !slices.Equal(paged, want) {
		t.Errorf("paged catalog = %v, want %v", paged, want)
	}
	if _, repos = get("/v2/_catalog", tok(&tokenserver.IdentityClaim{Anonymous: true}, catalogAccess)); !slices.Equal(repos, []string{"public/one", "public/two"}) {
		t.Errorf("anonymous catalog = %v", repos)
	}
	if w, _ = get("/v2/_catalog?n=-1", alice); w.Code != http.StatusBadRequest {
		t.Errorf("n=-1: %d, want 400", w.Code)
	}
	// No token, a token without catalog access, a foreign token: the
	// registry answers (with its challenge).
	for name, bearer := range map[string]string{
		"no token":          "",
		"no catalog access": tok(&tokenserver.IdentityClaim{User: "alice", Groups: []string{"/team-a"}}),
		"garbage":           "not.a.token",
	} {
		before := registryHit
		if w, _ = get("/v2/_catalog", bearer); w.Code != http.StatusUnauthorized || registryHit != before+1 {
			t.Errorf("%s: %d, registry asked %d times; want the registry's 401", name, w.Code, registryHit-before)
		}
	}
	// Other paths are the registry's.
	before := registryHit
	get("/v2/team-a/app/tags/list", alice)
	if registryHit != before+1 {
		t.Error("a tags request did not go to the registry")
	}
}
