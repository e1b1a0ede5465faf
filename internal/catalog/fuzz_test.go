package catalog_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"

	"github.com/registry-stack/registry-stack/internal/catalog"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/scope"
	"github.com/registry-stack/registry-stack/internal/tokenserver"
)

// walkOrder is the catalog's order, the storage walk's: segment by
// segment, a repository after those nested in it whose next segment sorts
// before "_manifests" (a/0 < a < a/b), as distribution lists it too.
func walkOrder(a, b string) int {
	return slices.Compare(strings.Split(a+"/_manifests", "/"), strings.Split(b+"/_manifests", "/"))
}

// FuzzCatalogPaging sends arbitrary n and last parameters to the filtered
// catalog over a real registry. A bad value is a 400, never a 5xx; a page
// holds at most n names, in walk order, all after last and all pullable by the
// caller; its Link points past its last name.
func FuzzCatalogPaging(f *testing.F) {
	reg, keys, verifier, p := newFixture(f,
		[]string{"a", "bulk/a", "bulk/b", "public/one", "public/one/sub", "public/two", "team-a/app", "team-a/base", "team-b/app", "z.z/x-y_z"},
		map[string][]policy.Grant{
			"team-a/**": {{Who: []string{"group:/team-a"}, Actions: []string{"pull"}}},
			"public/**": {{Who: []string{"anonymous", "authenticated"}, Actions: []string{"pull"}}},
			"a":         {{Who: []string{"authenticated"}, Actions: []string{"pull"}}},
		})
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	h := catalog.New(catalog.Options{Lister: reg, Verifier: verifier, Service: service, Policy: policy.NewLive(p), MaxEntries: 50}, next)
	subject := policy.Subject{User: "alice", Groups: []string{"/team-a"}}
	now := time.Now()
	bearer, err := keys.Sign(tokenserver.Claims{
		ClaimSet: token.ClaimSet{Issuer: issuer, Audience: []string{service}, Subject: "alice",
			Expiration: now.Add(time.Hour).Unix(), NotBefore: now.Add(-time.Minute).Unix(), IssuedAt: now.Unix(),
			Access: []*token.ResourceActions{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		Identity: &tokenserver.IdentityClaim{User: subject.User, Groups: subject.Groups},
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][2]string{
		{"", ""}, {"2", ""}, {"2", "public/one"}, {"1", "public/one/sub"}, {"0", ""}, {"-1", ""}, {"51", ""},
		{"x", ""}, {"+3", "a"}, {"3", "team-a/"}, {"3", "../../etc"}, {"3", "/"}, {"99999999999999999999", ""},
		{"3", string(make([]byte, 300))},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, n, last string) {
		q := "?"
		if n != "" {
			q += "n=" + url.QueryEscape(n) + "&"
		}
		q += "last=" + url.QueryEscape(last)
		req := httptest.NewRequest(http.MethodGet, "/v2/_catalog"+q, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusBadRequest {
			i, err := strconv.Atoi(n)
			if n != "" && (err != nil || i < 0 || i > 50) || scope.ValidateRepository(last) != nil && last != "" {
				return
			}
			t.Fatalf("n=%q last=%q: 400 %s", n, last, w.Body)
		}
		if w.Code != http.StatusOK {
			t.Fatalf("n=%q last=%q: %d %s", n, last, w.Code, w.Body)
		}
		var body struct{ Repositories []string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		repos := body.Repositories
		limit := 50
		if n != "" {
			limit, _ = strconv.Atoi(n)
		}
		if len(repos) > limit || !slices.IsSortedFunc(repos, walkOrder) {
			t.Fatalf("n=%q last=%q: %v", n, last, repos)
		}
		for _, r := range repos {
			if last != "" && walkOrder(r, last) <= 0 || !p.MayPull(subject, r) {
				t.Fatalf("n=%q last=%q: listed %q", n, last, r)
			}
		}
		if link := w.Header().Get("Link"); link != "" {
			target, _, _ := strings.Cut(strings.TrimPrefix(link, "<"), ">")
			u, err := url.Parse(target)
			if err != nil || len(repos) == 0 || u.Query().Get("last") != repos[len(repos)-1] {
				t.Fatalf("n=%q last=%q: Link %q after %v", n, last, link, repos)
			}
		}
	})
}
