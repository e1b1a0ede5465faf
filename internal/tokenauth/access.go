package tokenauth

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/auth/token"

	authchallenge "github.com/registry-stack/registry-stack/internal/challenge"
)

// resourceKey identifies a resource by type and name, as distribution's
// token controller does when matching access.
type resourceKey struct{ typ, name string }

// accessSet maps resources to actions.
type accessSet map[resourceKey]map[string]struct{}

func (s accessSet) add(typ, name string, actions ...string) {
	k := resourceKey{typ, name}
	if s[k] == nil {
		s[k] = map[string]struct{}{}
	}
	for _, a := range actions {
		s[k][a] = struct{}{}
	}
}

func newAccessSet(granted []*token.ResourceActions) accessSet {
	s := accessSet{}
	for _, ra := range granted {
		if ra != nil {
			s.add(ra.Type, ra.Name, ra.Actions...)
		}
	}
	return s
}

// contains reports whether a is granted. A granted "*" covers every action
// on its resource; a requested "*" (catalog access) needs a granted "*".
func (s accessSet) contains(a auth.Access) bool {
	actions := s[resourceKey{a.Type, a.Name}]
	_, all := actions["*"]
	_, one := actions[a.Action]
	return all || one
}

// scopeParam renders the requested access as a challenge scope parameter,
// sorted so the header is stable.
func scopeParam(required []auth.Access) string {
	s := accessSet{}
	for _, a := range required {
		s.add(a.Type, a.Name, a.Action)
	}
	keys := slices.SortedFunc(maps.Keys(s), func(a, b resourceKey) int {
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.name, b.name))
	})
	scopes := make([]string, 0, len(keys))
	for _, k := range keys {
		actions := slices.Sorted(maps.Keys(s[k]))
		scopes = append(scopes, fmt.Sprintf("%s:%s:%s", k.typ, k.name, strings.Join(actions, ",")))
	}
	return strings.Join(scopes, " ")
}

// resources lists the granted resources for auth.Grant.
func resources(granted []*token.ResourceActions) []auth.Resource {
	seen := map[auth.Resource]struct{}{}
	var out []auth.Resource
	for _, ra := range granted {
		if ra == nil {
			continue
		}
		r := auth.Resource{Type: ra.Type, Class: ra.Class, Name: ra.Name}
		if _, dup := seen[r]; !dup {
			seen[r] = struct{}{}
			out = append(out, r)
		}
	}
	return out
}

// challenge implements auth.Challenge like distribution's token controller.
type challenge struct {
	realm    string
	service  string
	required []auth.Access
	// err wraps token.ErrTokenRequired, ErrMalformedToken, ErrInvalidToken
	// or ErrInsufficientScope.
	err error
}

var _ auth.Challenge = (*challenge)(nil)

func (c *challenge) Error() string { return c.err.Error() }

func (c *challenge) Unwrap() error { return c.err }

// Status is the HTTP status the challenge is meant to be sent with.
func (c *challenge) Status() int { return http.StatusUnauthorized }

// SetHeaders adds the WWW-Authenticate header (RFC 6750 section 3).
func (c *challenge) SetHeaders(_ *http.Request, w http.ResponseWriter) {
	code := ""
	switch {
	case errors.Is(c.err, token.ErrInvalidToken), errors.Is(c.err, token.ErrMalformedToken):
		code = "invalid_token"
	case errors.Is(c.err, token.ErrInsufficientScope):
		code = "insufficient_scope"
	}
	w.Header().Add("WWW-Authenticate", authchallenge.Bearer(c.realm, c.service, scopeParam(c.required), code))
}
