package tokenserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/scope"
)

// FuzzTokenRequest sends arbitrary GET queries, Authorization headers and
// POST forms to the endpoint. A bad request is never a server fault (no
// 5xx), every answer is JSON, and a token grants nothing beyond what was
// asked for and what the policy allows its subject.
func FuzzTokenRequest(f *testing.F) {
	basic := func(user, pass string) string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	alice := basic("alice", "alice-password")
	for _, s := range []struct {
		post                   bool
		query, authz, ct, body string
	}{
		{false, "service=registry-stack&scope=repository:team-a/app:pull,push&scope=repository:public/x:pull", alice, "", ""},
		{false, "service=registry-stack&scope=repository:team-a/app:pull%20repository:team-a/app:delete", alice, "", ""},
		{false, "scope=repository:public/x:pull,push&scope=registry:catalog:*", "", "", ""},
		{false, "service=other", basic("", ""), "", ""},
		{false, "scope=repository:team-a/app:pull", "basic " + alice[len("Basic "):], "", ""},
		{false, "scope=repository:team-a/app:pull", "Basic !!!", "", ""},
		{false, "scope=repository:team-a/app:pull", "Bearer ", "", ""},
		{false, "offline_token=true&scope=%zz", "Negotiate x", "", ""},
		{true, "", "", "application/x-www-form-urlencoded", "grant_type=password&username=alice&password=alice-password&scope=repository:team-a/app:pull&access_type=offline&service=registry-stack"},
		{true, "", "", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=refresh-alice&scope=repository:team-a/app:push"},
		{true, "", "", "application/x-www-form-urlencoded", "grant_type=client_credentials"},
		{true, "", "", "application/x-www-form-urlencoded", "%"},
		{true, "", "", "multipart/form-data; boundary=x", "--x--"},
		{true, "", "", "text/plain", "grant_type=password"},
	} {
		f.Add(s.post, s.query, s.authz, s.ct, s.body)
	}
	h, set, p := newHandler(f)
	f.Fuzz(func(t *testing.T, post bool, query, authz, contentType, body string) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		req, err := http.NewRequest(method, "http://registry.example.com/auth/token?"+query, strings.NewReader(body))
		if err != nil {
			return // no server hands such a request line to a handler
		}
		req.RemoteAddr = "192.0.2.1:1234"
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, query, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %q: %d answer is not JSON: %q %q", method, query, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		var ans tokenAnswer
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
			t.Fatal(err)
		}
		_, c := access(t, set, ans.Token)
		asked := req.URL.Query()["scope"]
		if post {
			form, _ := url.ParseQuery(body)
			asked = form["scope"]
		}
		requested, _ := scope.ParseAll(asked)
		for _, ra := range c.Access {
			i := slices.IndexFunc(requested, func(s scope.Scope) bool {
				return s.Type == ra.Type && s.Class == ra.Class && s.Name == ra.Name
			})
			if i < 0 {
				t.Fatalf("granted %+v, not asked for (%q)", ra, asked)
			}
			allowed, _ := p.Grant(c.Identity.Subject(), requested[i])
			for _, a := range ra.Actions {
				if !slices.Contains(requested[i].Actions, a) || !slices.Contains(allowed.Actions, a) {
					t.Fatalf("granted %s on %s: asked %v, policy allows %v", a, ra.Name, requested[i].Actions, allowed.Actions)
				}
			}
		}
	})
}
