package tokenauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/go-jose/go-jose/v4"

	"github.com/registry-stack/registry-stack/internal/scope"
)

// FuzzAuthorized sends arbitrary Authorization headers for arbitrary
// access. Nothing but the one validly signed token may be granted, and
// then only what it carries; a refusal is a 401 challenge whose scope
// parameter the token endpoints' scope parser reads back as the access
// asked for.
func FuzzAuthorized(f *testing.F) {
	keys := generateKeys(f)
	c := newFuzzController(f, keys)
	valid := sign(f, jose.ES256, keys.ec, "ec", claims(access{repo("team/app", "pull", "push")}))
	parts := strings.Split(valid, ".")
	for _, s := range []struct{ header, name, action string }{
		{"Bearer " + valid, "team/app", "pull"},
		{"bearer " + valid, "team/app", "delete"},
		{"Bearer " + valid, "other/app", "pull"},
		{"Bearer " + parts[0] + "." + parts[1] + ".", "team/app", "pull"},
		{"Bearer " + parts[0] + ".e30." + parts[2], "team/app", "pull"},
		{"Bearer eyJhbGciOiJub25lIn0.e30.", "team/app", "pull"},
		{"Basic dXNlcjpwYXNz", "team/app", "pull"},
		{"Bearer ", "a", "pull"},
		{"", "registry", "*"},
	} {
		f.Add(s.header, s.name, s.action)
	}
	f.Fuzz(func(t *testing.T, header, name, action string) {
		req := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		req.Header.Set("Authorization", header)
		want := auth.Access{Resource: auth.Resource{Type: "repository", Name: name}, Action: action}
		grant, err := c.Authorized(req, want)
		if err == nil {
			_, raw, _ := strings.Cut(header, " ")
			if !sameToken(raw, valid) || name != "team/app" || action != "pull" && action != "push" {
				t.Fatalf("granted %v to %q for %s:%s", grant, header, name, action)
			}
			return
		}
		var ch *challenge
		if !errors.As(err, &ch) || ch.Status() != http.StatusUnauthorized {
			t.Fatalf("refusal %v (%T) is not a 401 challenge", err, err)
		}
		rec := httptest.NewRecorder()
		ch.SetHeaders(req, rec)
		if got := rec.Header().Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], `Bearer realm="`+testTokenURL+`",service="`+testService+`"`) {
			t.Fatalf("challenge %q", got)
		}
		if scope.ValidateRepository(name) != nil || action == "" || strings.Trim(action, "abcdefghijklmnopqrstuvwxyz") != "" {
			return // distribution asks only for valid names and actions
		}
		scopes, bad := scope.ParseAll([]string{scopeParam(ch.required)})
		wantScope := scope.Scope{Type: "repository", Name: name, Actions: []string{action}}
		if len(bad) != 0 || len(scopes) != 1 || !reflect.DeepEqual(scopes[0], wantScope) {
			t.Fatalf("scope %q parses as %v %v, want %v", scopeParam(ch.required), scopes, bad, wantScope)
		}
	})
}

// sameToken reports whether raw decodes to the same three segments as
// valid (base64 may spell the same bytes twice, in the unused bits).
func sameToken(raw, valid string) bool {
	a, b := strings.Split(raw, "."), strings.Split(valid, ".")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, err1 := base64.RawURLEncoding.DecodeString(a[i])
		y, err2 := base64.RawURLEncoding.DecodeString(b[i])
		if err1 != nil || err2 != nil || string(x) != string(y) {
			return false
		}
	}
	return true
}

func newFuzzController(f *testing.F, keys testKeys) *controller {
	ac, err := New(Options{TokenURL: testTokenURL, Service: testService, Issuers: []string{testIssuer}, Keys: keys.source()})
	if err != nil {
		f.Fatal(err)
	}
	c := ac.(*controller)
	c.verifier.now = func() time.Time { return testNow }
	return c
}
