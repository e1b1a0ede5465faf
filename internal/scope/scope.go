// Package scope parses the scopes of distribution's token specification:
// what a docker client asks the token endpoint for, such as
// "repository:team-a/app:pull,push" or "registry:catalog:*".
//
// The grammar is resourcetype[(class)]:name:action[,action...]. The type
// ends at the first ':' and the actions start after the last one, because a
// repository name may itself contain a ':' (a "host:port/" component).
// Repository names are checked against distribution's own grammar, so a name
// the registry would refuse to serve is never handed to the policy. Other
// resource types are kept as they are: they carry no meaning here and the
// policy denies them.
package scope

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/registry-stack/registry-stack/internal/shorten"
)

// Resource types distribution's registry asks for.
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"
)

// Scope is one requested or granted resource and its actions.
type Scope struct {
	Type    string
	Class   string // e.g. "plugin" in "repository(plugin):x:pull"; usually empty
	Name    string
	Actions []string
}

// maxShown clips the untrusted scope text quoted in an error.
const maxShown = 120

// Parse parses one scope. Duplicate actions are dropped, first one kept.
func Parse(s string) (Scope, error) {
	sc, err := parse(s)
	if err != nil {
		return Scope{}, fmt.Errorf("scope %q: %w", shorten.Text(s, maxShown), err)
	}
	return sc, nil
}

func parse(s string) (Scope, error) {
	first, last := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if first < 0 || first == last {
		return Scope{}, errors.New("want type:name:actions")
	}
	typ, class, err := parseType(s[:first])
	if err != nil {
		return Scope{}, err
	}
	name := s[first+1 : last]
	if err := validateName(typ, name); err != nil {
		return Scope{}, err
	}
	actions, err := parseActions(s[last+1:])
	if err != nil {
		return Scope{}, err
	}
	return Scope{Type: typ, Class: class, Name: name, Actions: actions}, nil
}

// parseType splits "repository(plugin)" into type and class; both follow the
// spec's resourcetypevalue, [a-z0-9]+.
func parseType(s string) (typ, class string, err error) {
	typ = s
	if open := strings.IndexByte(s, '('); open >= 0 {
		inner, ok := strings.CutSuffix(s[open+1:], ")")
		if !ok {
			return "", "", fmt.Errorf("resource type %q: class must be closed by ')' at the end", s)
		}
		typ, class = s[:open], inner
		if !isWord(class) {
			return "", "", fmt.Errorf("resource class %q must be [a-z0-9]+", class)
		}
	}
	if !isWord(typ) {
		return "", "", fmt.Errorf("resource type %q must be [a-z0-9]+", typ)
	}
	return typ, class, nil
}

func validateName(typ, name string) error {
	if typ == TypeRepository {
		return ValidateRepository(name)
	}
	if name == "" {
		return errors.New("resource name must not be empty")
	}
	// Other types are opaque, but must survive being rendered back and
	// split on spaces by ParseAll.
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] >= 0x7f {
			return fmt.Errorf("resource name must be printable ASCII without spaces")
		}
	}
	return nil
}

// parseActions parses the comma list. The spec's action is [a-z]*; "*" is
// what distribution asks for on the catalog. A docker client never sends an
// empty action, so one is an error rather than silently nothing.
func parseActions(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("no actions")
	}
	var actions []string
	for a := range strings.SplitSeq(s, ",") {
		if a != "*" && (a == "" || !all(a, isLower)) {
			return nil, fmt.Errorf("action %q must be [a-z]+ or *", a)
		}
		if !slices.Contains(actions, a) {
			actions = append(actions, a)
		}
	}
	return actions, nil
}

func isWord(s string) bool { return s != "" && all(s, isAlnum) }

// String renders the scope in the form Parse reads.
func (s Scope) String() string {
	var b strings.Builder
	b.WriteString(s.Type)
	if s.Class != "" {
		b.WriteString("(" + s.Class + ")")
	}
	b.WriteString(":" + s.Name + ":" + strings.Join(s.Actions, ","))
	return b.String()
}

// resource identifies what ParseAll merges on. The class is part of it: a
// plugin repository and an image repository of the same name are asked for
// separately, so they are granted separately too.
type resource struct{ typ, class, name string }

// ParseAll parses the scope query parameters of one token request. Each
// parameter may hold several scopes separated by spaces (as Keycloak and some
// clients send them). Scopes for the same resource are merged into one, with
// the union of their actions; scopes and actions keep the order in which
// they first appear. Bad entries are reported and left out; the good ones are
// still returned, so one bad scope costs the client only that scope.
func ParseAll(params []string) ([]Scope, []error) {
	var (
		out  []Scope
		errs []error
		at   = map[resource]int{}
	)
	for _, p := range params {
		for field := range strings.FieldsSeq(p) {
			sc, err := Parse(field)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			k := resource{sc.Type, sc.Class, sc.Name}
			i, seen := at[k]
			if !seen {
				at[k] = len(out)
				out = append(out, sc)
				continue
			}
			for _, a := range sc.Actions {
				if !slices.Contains(out[i].Actions, a) {
					out[i].Actions = append(out[i].Actions, a)
				}
			}
		}
	}
	return out, errs
}
