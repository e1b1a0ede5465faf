package policy

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/registry-stack/registry-stack/internal/scope"
	"github.com/registry-stack/registry-stack/internal/shorten"
)

// Config is the policy section of the registry-stack config file.
type Config struct {
	// Admins may do everything on every repository, and call the catalog.
	Admins []string `yaml:"admins"`
	// Catalog lists who may call the catalog; they see only the
	// repositories they may pull. Absent means anonymous and
	// authenticated; an empty list means admins only.
	Catalog []string `yaml:"catalog"`
	// Repositories maps a repository name pattern to its grants.
	Repositories map[string][]Grant `yaml:"repositories"`
}

// MarshalYAML leaves an absent catalog out, as check-config prints the
// config: written as an empty list it would mean admins only.
func (c Config) MarshalYAML() (any, error) {
	out := struct {
		Admins       []string           `yaml:"admins"`
		Catalog      *[]string          `yaml:"catalog,omitempty"`
		Repositories map[string][]Grant `yaml:"repositories"`
	}{Admins: c.Admins, Repositories: c.Repositories}
	if c.Catalog != nil {
		out.Catalog = &c.Catalog
	}
	return out, nil
}

// Grant gives the subjects in Who the actions in Actions.
type Grant struct {
	Who     []string `yaml:"who"`
	Actions []string `yaml:"actions"`
}

// Error names the setting at fault the way it is written in the config file,
// e.g. `policy.repositories["team-a/**"][0].who[1]`.
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// Actions a policy grants on a repository, in the order they are listed.
const (
	Pull   = "pull"
	Push   = "push"
	Delete = "delete"
)

type actionSet uint8

const (
	pullBit actionSet = 1 << iota
	pushBit
	deleteBit
	allBits = pullBit | pushBit | deleteBit
)

func parseAction(a string) (actionSet, bool) {
	switch a {
	case Pull:
		return pullBit, true
	case Push:
		return pushBit, true
	case Delete:
		return deleteBit, true
	case "*":
		return allBits, true
	}
	return 0, false
}

// list returns the actions in canonical order; nil for none.
func (a actionSet) list() []string {
	var out []string
	for _, n := range []string{Pull, Push, Delete} {
		if bit, _ := parseAction(n); a&bit != 0 {
			out = append(out, n)
		}
	}
	return out
}

var defaultCatalog = []string{"anonymous", "authenticated"}

// Policy is a compiled, validated policy. It is never modified after
// Compile, so any number of requests may use one while a new one is built.
// A nil *Policy denies everything.
type Policy struct {
	admins         []subject
	catalog        []subject
	catalogDefault bool
	// literal holds the patterns without placeholders, most specific
	// first, so the first one that matches is the best of them.
	literal []*rule
	// placeholder holds the rest; how specific they are depends on the
	// subject's values, so each one that matches is ranked at match time.
	placeholder []*rule
}

type rule struct {
	*glob
	grants []grant
}

type grant struct {
	index   int
	who     []subject
	actions actionSet
}

// Compile validates c and builds the Policy. The error names the first
// setting at fault.
func Compile(c Config) (*Policy, error) {
	p := &Policy{}
	var err error
	if p.admins, err = compileWho("policy.admins", c.Admins, true); err != nil {
		return nil, err
	}
	catalog := c.Catalog
	if catalog == nil {
		catalog, p.catalogDefault = defaultCatalog, true
	}
	if p.catalog, err = compileWho("policy.catalog", catalog, true); err != nil {
		return nil, err
	}
	// Sorted so the error reported for a broken config is always the same.
	for _, pattern := range slices.Sorted(maps.Keys(c.Repositories)) {
		r, err := compileRule(pattern, c.Repositories[pattern])
		if err != nil {
			return nil, err
		}
		if r.users+r.groups == 0 {
			p.literal = append(p.literal, r)
		} else {
			p.placeholder = append(p.placeholder, r)
		}
	}
	slices.SortStableFunc(p.literal, func(a, b *rule) int {
		return compareSpecificity(a.glob, a.literal, b.glob, b.literal)
	})
	return p, nil
}

func compileRule(pattern string, grants []Grant) (*rule, error) {
	key := fmt.Sprintf("policy.repositories[%q]", pattern)
	g, err := compileGlob(pattern)
	if err != nil {
		return nil, &Error{Key: key, Msg: err.Error()}
	}
	if grants == nil {
		// `"x/**":` with nothing after it is more likely an unfinished
		// edit than a decision; an explicit [] is the way to deny.
		return nil, &Error{Key: key, Msg: "has no grants (write [] to deny everyone but admins here)"}
	}
	r := &rule{glob: g}
	for i, gr := range grants {
		gkey := fmt.Sprintf("%s[%d]", key, i)
		who, err := compileWho(gkey+".who", gr.Who, false)
		if err != nil {
			return nil, err
		}
		if len(gr.Actions) == 0 {
			return nil, &Error{Key: gkey + ".actions", Msg: "must not be empty"}
		}
		var actions actionSet
		for j, a := range gr.Actions {
			bit, ok := parseAction(a)
			if !ok {
				return nil, &Error{Key: fmt.Sprintf("%s.actions[%d]", gkey, j), Msg: fmt.Sprintf("%q is not an action (pull, push, delete, *)", a)}
			}
			actions |= bit
		}
		r.grants = append(r.grants, grant{index: i, who: who, actions: actions})
	}
	return r, nil
}

func compileWho(key string, who []string, emptyOK bool) ([]subject, error) {
	if len(who) == 0 && !emptyOK {
		return nil, &Error{Key: key, Msg: "must not be empty"}
	}
	out := make([]subject, 0, len(who))
	for i, w := range who {
		s, err := parseSubject(w)
		if err != nil {
			return nil, &Error{Key: fmt.Sprintf("%s[%d]", key, i), Msg: err.Error()}
		}
		out = append(out, s)
	}
	return out, nil
}

// compareSpecificity orders the more specific of two matching patterns
// first: more literal characters (placeholders counting as their values),
// then more segments, then fewer placeholders (a name spelled out beats one
// that comes from a placeholder), then the pattern text.
func compareSpecificity(a *glob, aScore int, b *glob, bScore int) int {
	// Not cmp.Or: that would compare the texts every time, and this runs
	// for every name the catalog lists.
	if c := cmp.Compare(bScore, aScore); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.segs), len(a.segs)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.users+a.groups, b.users+b.groups); c != 0 {
		return c
	}
	return strings.Compare(a.text, b.text)
}

// match is the deciding pattern for one subject and repository.
type match struct {
	rule  *rule
	bind  binding
	score int
}

// find returns the most specific pattern matching repo for s.
func (p *Policy) find(s *Subject, repo string) (match, bool) {
	var best match
	found := false
	for _, r := range p.literal {
		if r.match(repo, binding{}) {
			best, found = match{rule: r, score: r.literal}, true
			break
		}
	}
	p.eachBinding(s, func(r *rule, b binding) bool {
		// Ranking needs no match, so a pattern that could not win is
		// not matched at all.
		score := r.score(b)
		if found && compareSpecificity(r.glob, score, best.rule.glob, best.score) >= 0 {
			return true
		}
		if r.match(repo, b) {
			best, found = match{rule: r, bind: b, score: score}, true
		}
		return true
	})
	return best, found
}

// eachBinding calls yield with every placeholder rule and every binding of
// its placeholders to s's values, until yield returns false; it reports
// whether it went through all of them. Anonymous subjects bind nothing, a
// rule with ${user} needs a user name that is a valid path component, and
// ${group} takes each group name that is one.
func (p *Policy) eachBinding(s *Subject, yield func(*rule, binding) bool) bool {
	if len(p.placeholder) == 0 || s.Anonymous {
		return true
	}
	user := s.User
	if !scope.IsPathComponent(user) {
		// Also keeps a name with '/' or upper case from ever reaching a
		// pattern: it could not be a repository path component anyway.
		user = ""
	}
	for _, r := range p.placeholder {
		if r.users > 0 && user == "" {
			continue
		}
		if r.groups == 0 {
			if !yield(r, binding{user: user}) {
				return false
			}
			continue
		}
		for _, g := range s.Groups {
			if name := groupName(g); scope.IsPathComponent(name) && !yield(r, binding{user: user, group: name}) {
				return false
			}
		}
	}
	return true
}

// Decision is what a subject may do on one repository, and why.
type Decision struct {
	// Actions is the granted subset of pull, push, delete, in that order;
	// nil when nothing is granted.
	Actions []string
	// Rule describes the deciding rule, for `registry-stack policy explain`.
	Rule string
}

// maxShown clips an untrusted repository name quoted in a Rule.
const maxShown = 300

// Decide returns what s may do on the repository named repo.
func (p *Policy) Decide(s Subject, repo string) Decision {
	if p == nil {
		return Decision{Rule: "no policy loaded (default deny)"}
	}
	if err := scope.ValidateRepository(repo); err != nil {
		return Decision{Rule: fmt.Sprintf("%q is not a repository name (deny)", shorten.Text(repo, maxShown))}
	}
	if w, ok := firstMatch(p.admins, &s); ok {
		return Decision{Actions: allBits.list(), Rule: "admins (who " + w.text + ")"}
	}
	m, ok := p.find(&s, repo)
	if !ok {
		return Decision{Rule: fmt.Sprintf("no rule matches %q (default deny)", repo)}
	}
	ref := fmt.Sprintf("repositories[%q]", m.rule.text)
	var (
		granted actionSet
		why     []string
	)
	for _, g := range m.rule.grants {
		w, ok := firstMatch(g.who, &s)
		if !ok {
			continue
		}
		granted |= g.actions
		why = append(why, fmt.Sprintf("%s[%d] (who %s, actions %s)", ref, g.index, w.text, strings.Join(g.actions.list(), ", ")))
	}
	if len(why) == 0 {
		return Decision{Rule: ref + bindingText(m.rule, m.bind) + ": no grant for this subject"}
	}
	return Decision{Actions: granted.list(), Rule: strings.Join(why, " and ") + bindingText(m.rule, m.bind)}
}

// bindingText says what the placeholders of r stood for, if it has any.
func bindingText(r *rule, b binding) string {
	var parts []string
	if r.users > 0 {
		parts = append(parts, placeholderUser+"="+b.user)
	}
	if r.groups > 0 {
		parts = append(parts, placeholderGroup+"="+b.group)
	}
	if parts == nil {
		return ""
	}
	return " with " + strings.Join(parts, ", ")
}

// MayPull reports whether s may pull repo; it agrees with Decide. It is
// what the catalog filter calls for every repository it lists, so it
// allocates nothing and builds no explanation.
func (p *Policy) MayPull(s Subject, repo string) bool {
	if p == nil || scope.ValidateRepository(repo) != nil {
		return false
	}
	if _, ok := firstMatch(p.admins, &s); ok {
		return true
	}
	m, ok := p.find(&s, repo)
	return ok && m.rule.grantsPull(&s)
}

// grantsPull reports whether one of r's grants gives s pull.
func (r *rule) grantsPull(s *Subject) bool {
	for _, g := range r.grants {
		if g.actions&pullBit != 0 {
			if _, ok := firstMatch(g.who, s); ok {
				return true
			}
		}
	}
	return false
}

// MayPullUnder reports whether s might pull some repository whose name
// starts with prefix+"/"; the empty prefix stands for the root, every
// repository. A storage walk asks it before descending into a directory,
// so it is conservative: it never says false where MayPull would say true
// for a name under prefix. It is true for admins, and otherwise when some
// rule has a grant of pull for s and a pattern that, with its placeholders
// bound for s as MayPull binds them, matches some name under prefix. It
// ignores which pattern would be the most specific, so a narrower rule that
// denies ("x/**": []) does not make it false. A prefix that is not a valid
// repository name gives true, leaving each name to MayPull. Like MayPull,
// it allocates nothing.
func (p *Policy) MayPullUnder(s Subject, prefix string) bool {
	if p == nil {
		return false
	}
	if prefix != "" && scope.ValidateRepository(prefix) != nil {
		return true
	}
	if _, ok := firstMatch(p.admins, &s); ok {
		return true
	}
	for _, r := range p.literal {
		if r.pullsUnder(&s, prefix, binding{}) {
			return true
		}
	}
	noneDoes := p.eachBinding(&s, func(r *rule, b binding) bool {
		return !r.pullsUnder(&s, prefix, b) // stop at the first that does
	})
	return !noneDoes
}

// pullsUnder reports whether r, bound by b, matches some name under prefix
// and grants s pull.
func (r *rule) pullsUnder(s *Subject, prefix string, b binding) bool {
	return r.matchUnder(prefix, b) && r.grantsPull(s)
}

// MayListCatalog reports whether s may call the catalog, and why.
func (p *Policy) MayListCatalog(s Subject) (bool, string) {
	if p == nil {
		return false, "no policy loaded (default deny)"
	}
	if w, ok := firstMatch(p.admins, &s); ok {
		return true, "admins (who " + w.text + ")"
	}
	if w, ok := firstMatch(p.catalog, &s); ok {
		if p.catalogDefault {
			return true, "catalog (who " + w.text + ", by default)"
		}
		return true, "catalog (who " + w.text + ")"
	}
	return false, "catalog: no entry matches this subject (default deny)"
}

// Grant returns the part of requested that s may have: the same resource
// with the requested actions that are allowed, in the order asked. A partial
// grant is not an error; the registry answers what is missing with a 401.
// "*" on a repository is granted only to a subject holding all of pull,
// push and delete there, since distribution reads it as every action.
// "registry:catalog:*" is granted to whoever MayListCatalog allows. Other
// resource types are denied.
func (p *Policy) Grant(s Subject, requested scope.Scope) (granted scope.Scope, rule string) {
	granted = scope.Scope{Type: requested.Type, Class: requested.Class, Name: requested.Name}
	switch requested.Type {
	case scope.TypeRepository:
		d := p.Decide(s, requested.Name)
		var allowed actionSet
		for _, a := range d.Actions {
			bit, _ := parseAction(a)
			allowed |= bit
		}
		for _, a := range requested.Actions {
			bit, ok := parseAction(a)
			if ok && allowed&bit == bit && !slices.Contains(granted.Actions, a) {
				granted.Actions = append(granted.Actions, a)
			}
		}
		return granted, d.Rule
	case scope.TypeRegistry:
		if requested.Name == "catalog" {
			ok, why := p.MayListCatalog(s)
			if ok && slices.Contains(requested.Actions, "*") {
				granted.Actions = []string{"*"}
			}
			return granted, why
		}
	}
	return granted, fmt.Sprintf("resource %q is not governed by the policy (default deny)",
		shorten.Text(requested.Type+":"+requested.Name, maxShown))
}
