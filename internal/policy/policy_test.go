package policy

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/registry-stack/registry-stack/internal/scope"
)

// decode reads a config file's policy section as the config package will:
// yaml.v3 with unknown keys refused.
func decode(src string) (Config, error) {
	var doc struct {
		Policy Config `yaml:"policy"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	err := dec.Decode(&doc)
	return doc.Policy, err
}

func mustCompile(t testing.TB, src string) *Policy {
	t.Helper()
	c, err := decode(src)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	p, err := Compile(c)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

var all = []string{Pull, Push, Delete}

func TestDecodeRefusesUnknownKeys(t *testing.T) {
	for _, src := range []string{
		"policy:\n  admin: [anonymous]\n",
		"policy:\n  repositories:\n    x:\n      - who: [anonymous]\n        acions: [pull]\n",
	} {
		if _, err := decode(src); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("decode(%q) error = %v, want an unknown field", src, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown subject",
			"policy:\n  repositories:\n    team-a/**:\n      - who: [authenticated, 'grp:x']\n        actions: [pull]\n",
			`policy.repositories["team-a/**"][0].who[1]: "grp:x" is not a subject (anonymous, authenticated, user:, group:, role:, client-role:)`},
		{"unknown action",
			"policy:\n  repositories:\n    x:\n      - who: [anonymous]\n        actions: [pull]\n      - who: [anonymous]\n        actions: [push, pul]\n",
			`policy.repositories["x"][1].actions[1]: "pul" is not an action (pull, push, delete, *)`},
		{"empty who",
			"policy:\n  repositories:\n    x:\n      - who: []\n        actions: [pull]\n",
			`policy.repositories["x"][0].who: must not be empty`},
		{"missing who",
			"policy:\n  repositories:\n    x:\n      - actions: [pull]\n",
			`policy.repositories["x"][0].who: must not be empty`},
		{"empty actions",
			"policy:\n  repositories:\n    x:\n      - who: [anonymous]\n",
			`policy.repositories["x"][0].actions: must not be empty`},
		{"no grants",
			"policy:\n  repositories:\n    x/**:\n",
			`policy.repositories["x/**"]: has no grants (write [] to deny everyone but admins here)`},
		{"bad glob",
			"policy:\n  repositories:\n    a**:\n      - who: [anonymous]\n        actions: [pull]\n",
			`policy.repositories["a**"]: ** must be a whole path segment`},
		{"upper case pattern",
			"policy:\n  repositories:\n    Team/**: []\n",
			`policy.repositories["Team/**"]: 'T' cannot appear in a pattern`},
		{"empty pattern",
			"policy:\n  repositories:\n    '': []\n",
			`policy.repositories[""]: pattern must not be empty`},
		{"bad admin",
			"policy:\n  admins: ['role:registry-admin', 'roles:x']\n",
			`policy.admins[1]: "roles:x" is not a subject`},
		{"bad catalog",
			"policy:\n  catalog: [anonymous, everyone]\n",
			`policy.catalog[1]: "everyone" is not a subject`},
		{"first error in pattern order",
			"policy:\n  repositories:\n    zz: [{who: [x], actions: [pull]}]\n    aa: [{who: [y], actions: [pull]}]\n",
			`policy.repositories["aa"][0].who[0]: "y" is not a subject`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decode(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile(c)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Compile error = %v, want a *policy.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Compile error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestEmptyPolicyDeniesAll(t *testing.T) {
	p, err := Compile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Subject{anon, alice, carol} {
		d := p.Decide(s, "team-a/app")
		if d.Actions != nil || d.Rule != `no rule matches "team-a/app" (default deny)` {
			t.Errorf("Decide(%+v) = %+v", s, d)
		}
	}
}

// specificity lists patterns that compete for the same names.
const specificity = `
policy:
  repositories:
    "**":
      - {who: [authenticated], actions: [pull]}
    "**/app":
      - {who: [authenticated], actions: [push]}
    "team-a/**":
      - {who: ["group:team-a"], actions: [pull, push]}
    "team-a/secret/**": []
    "team-a/app":
      - {who: ["user:alice"], actions: ["*"]}
    "ab/**":
      - {who: [authenticated], actions: [delete]}
    "*/c/*":
      - {who: [authenticated], actions: [push]}
    "t/*":
      - {who: [authenticated], actions: [pull]}
    "t/?*":
      - {who: [authenticated], actions: [push]}
    "${user}/**":
      - {who: [authenticated], actions: ["*"]}
    "${group}/**":
      - {who: [authenticated], actions: [pull]}
    "${group}/shared/**":
      - {who: [authenticated], actions: [pull, push]}
    "u/${user}":
      - {who: [authenticated], actions: [push]}
`

func TestMostSpecificPatternWins(t *testing.T) {
	p := mustCompile(t, specificity)
	tests := []struct {
		name    string
		subject Subject
		repo    string
		actions []string
		rule    string
	}{
		{"only ** matches", bob, "x/y", []string{Pull},
			`repositories["**"][0] (who authenticated, actions pull)`},
		{"more literal characters win", alice, "team-a/lib", []string{Pull, Push},
			`repositories["team-a/**"][0] (who group:team-a, actions pull, push)`},
		{"team-a/** beats **/app", alice, "team-a/x/app", []string{Pull, Push},
			`repositories["team-a/**"][0] (who group:team-a, actions pull, push)`},
		{"the exact name wins", alice, "team-a/app", all,
			`repositories["team-a/app"][0] (who user:alice, actions pull, push, delete)`},
		{"the winner's grants only, none for bob", bob, "team-a/app", nil,
			`repositories["team-a/app"]: no grant for this subject`},
		{"broader grants do not add up", ciRobot, "team-a/app", nil,
			`repositories["team-a/app"]: no grant for this subject`},
		{"an empty grant list denies", alice, "team-a/secret/x", nil,
			`repositories["team-a/secret/**"]: no grant for this subject`},
		{"on equal characters more segments win", bob, "ab/c/d", []string{Push},
			`repositories["*/c/*"][0] (who authenticated, actions push)`},
		{"then the pattern that sorts first", bob, "t/x", []string{Pull},
			`repositories["t/*"][0] (who authenticated, actions pull)`},
		{"a placeholder counts as its value", bob, "bob/x", all,
			`repositories["${user}/**"][0] (who authenticated, actions pull, push, delete) with ${user}=bob`},
		{"a spelled-out name beats the same name from a placeholder", alice, "team-a/x", []string{Pull, Push},
			`repositories["team-a/**"][0] (who group:team-a, actions pull, push)`},
		{"group placeholder", bob, "team-b/x", []string{Pull},
			`repositories["${group}/**"][0] (who authenticated, actions pull) with ${group}=team-b`},
		{"the longer substitution wins", bob, "team-b/shared/x", []string{Pull, Push},
			`repositories["${group}/shared/**"][0] (who authenticated, actions pull, push) with ${group}=team-b`},
		{"each group is tried", Subject{User: "dave", Groups: []string{"/org/x", "/org/team-c/ops", "/team-c"}}, "team-c/y", []string{Pull},
			`repositories["${group}/**"][0] (who authenticated, actions pull) with ${group}=team-c`},
		{"user placeholder inside a pattern", bob, "u/bob", []string{Push},
			`repositories["u/${user}"][0] (who authenticated, actions push) with ${user}=bob`},
		{"another user's namespace falls through to **", bob, "alice/x", []string{Pull},
			`repositories["**"][0] (who authenticated, actions pull)`},
		{"anonymous matches no placeholder and no grant", anon, "bob/x", nil,
			`repositories["**"]: no grant for this subject`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.subject, tt.repo)
			if !reflect.DeepEqual(d.Actions, tt.actions) || d.Rule != tt.rule {
				t.Errorf("Decide(%s, %q)\n got %v %s\nwant %v %s", tt.subject.User, tt.repo, d.Actions, d.Rule, tt.actions, tt.rule)
			}
			if got := p.MayPull(tt.subject, tt.repo); got != contains(tt.actions, Pull) {
				t.Errorf("MayPull = %v, want %v", got, !got)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPlaceholderValuesCannotWiden: a user or group name is matched
// literally, and one that is not a valid path component matches nothing.
func TestPlaceholderValuesCannotWiden(t *testing.T) {
	p := mustCompile(t, `
policy:
  repositories:
    "${user}/**":
      - {who: [authenticated], actions: ["*"]}
    "g/${group}/*":
      - {who: [authenticated], actions: ["*"]}
`)
	tests := []struct {
		user   string
		groups []string
		repo   string
	}{
		{"*", nil, "x/y"},
		{"**", nil, "x"},
		{"?", nil, "x/y"},
		{"a?c", nil, "abc/x"},
		{"team-a/x", nil, "team-a/x/y"},
		{"team-a/x", nil, "team-a"},
		{"Alice", nil, "Alice/x"}, // an upper-case first component is a valid host name
		{"", nil, "x"},
		{"bob", []string{"/*"}, "g/x/y"},
		{"bob", []string{"/a?"}, "g/ab/y"},
		{"bob", []string{"/Team"}, "g/Team/y"},
		{"bob", []string{""}, "g/x/y"},
		{"bob", []string{"/"}, "g/x/y"},
	}
	for _, tt := range tests {
		s := Subject{User: tt.user, Groups: tt.groups}
		if d := p.Decide(s, tt.repo); d.Actions != nil {
			t.Errorf("user %q groups %q on %q: granted %v by %s", tt.user, tt.groups, tt.repo, d.Actions, d.Rule)
		}
	}
}

func TestAdmins(t *testing.T) {
	p := mustCompile(t, `
policy:
  admins: ["user:root", "role:registry-admin"]
  repositories:
    "team-a/**": []
`)
	for _, tt := range []struct {
		s    Subject
		rule string
	}{
		{carol, "admins (who role:registry-admin)"},
		{Subject{User: "root"}, "admins (who user:root)"},
	} {
		for _, repo := range []string{"team-a/app", "x", "localhost:5000/x/y"} {
			d := p.Decide(tt.s, repo)
			if !reflect.DeepEqual(d.Actions, all) || d.Rule != tt.rule {
				t.Errorf("Decide(%+v, %q) = %+v", tt.s, repo, d)
			}
		}
	}
	if d := p.Decide(Subject{Anonymous: true, User: "root", RealmRoles: []string{"registry-admin"}}, "x"); d.Actions != nil {
		t.Errorf("anonymous with admin fields: %+v", d)
	}
}

func TestInvalidRepositoryNamesAreDenied(t *testing.T) {
	p := mustCompile(t, "policy:\n  admins: [authenticated]\n  repositories:\n    '**': [{who: [anonymous], actions: [pull]}]\n")
	for _, repo := range []string{"", "Team", "a/../b", "a//b", "/a", "a b", strings.Repeat("a", 256)} {
		for _, s := range []Subject{anon, alice} {
			d := p.Decide(s, repo)
			if d.Actions != nil || !strings.HasSuffix(d.Rule, "is not a repository name (deny)") {
				t.Errorf("Decide(%q) = %+v", repo, d)
			}
			if p.MayPull(s, repo) {
				t.Errorf("MayPull(%q) = true", repo)
			}
		}
	}
}

func TestCatalog(t *testing.T) {
	const repos = "  repositories:\n    x: []\n"
	tests := []struct {
		name    string
		src     string
		subject Subject
		ok      bool
		rule    string
	}{
		{"default lets anonymous in", "policy:\n" + repos, anon, true, "catalog (who anonymous, by default)"},
		{"default lets users in", "policy:\n" + repos, alice, true, "catalog (who authenticated, by default)"},
		{"authenticated only", "policy:\n  catalog: [authenticated]\n" + repos, anon, false, "catalog: no entry matches this subject (default deny)"},
		{"authenticated only, user", "policy:\n  catalog: [authenticated]\n" + repos, alice, true, "catalog (who authenticated)"},
		{"empty list leaves it to admins", "policy:\n  catalog: []\n  admins: ['role:registry-admin']\n" + repos, alice, false, "catalog: no entry matches this subject (default deny)"},
		{"admins always", "policy:\n  catalog: []\n  admins: ['role:registry-admin']\n" + repos, carol, true, "admins (who role:registry-admin)"},
		{"by group", "policy:\n  catalog: ['group:/team-b']\n" + repos, bob, true, "catalog (who group:/team-b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.src)
			ok, rule := p.MayListCatalog(tt.subject)
			if ok != tt.ok || rule != tt.rule {
				t.Errorf("MayListCatalog = %v %q, want %v %q", ok, rule, tt.ok, tt.rule)
			}
			g, grule := p.Grant(tt.subject, scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}})
			if (len(g.Actions) == 1 && g.Actions[0] == "*") != tt.ok || grule != tt.rule {
				t.Errorf("Grant(registry:catalog:*) = %v %q", g, grule)
			}
		})
	}
}

func TestGrant(t *testing.T) {
	p := mustCompile(t, demo)
	tests := []struct {
		subject Subject
		scope   string
		want    string // granted scope; actions empty when denied
		rule    string
	}{
		{alice, "repository:public/base:pull,push,delete", "repository:public/base:pull,push",
			`repositories["public/**"][0] (who authenticated, actions pull) and repositories["public/**"][1] (who group:team-a, actions push)`},
		{alice, "repository:public/base:delete,push", "repository:public/base:push",
			`repositories["public/**"][0] (who authenticated, actions pull) and repositories["public/**"][1] (who group:team-a, actions push)`},
		{bob, "repository:team-a/app:pull", "repository:team-a/app:",
			`repositories["team-a/**"]: no grant for this subject`},
		{alice, "repository(plugin):team-a/app:pull", "repository(plugin):team-a/app:pull",
			`repositories["team-a/**"][0] (who group:team-a, actions pull, push, delete)`},
		{alice, "repository:team-a/app:*", "repository:team-a/app:*",
			`repositories["team-a/**"][0] (who group:team-a, actions pull, push, delete)`},
		{alice, "repository:public/base:*", "repository:public/base:",
			`repositories["public/**"][0] (who authenticated, actions pull) and repositories["public/**"][1] (who group:team-a, actions push)`},
		{carol, "repository:anything/at/all:*,pull", "repository:anything/at/all:*,pull", "admins (who role:registry-admin)"},
		{carol, "repository:x:pull,mount", "repository:x:pull", "admins (who role:registry-admin)"},
		{anon, "repository:other/x:pull", "repository:other/x:", `no rule matches "other/x" (default deny)`},
		{anon, "registry:catalog:*", "registry:catalog:*", "catalog (who anonymous, by default)"},
		{anon, "registry:catalog:pull", "registry:catalog:", "catalog (who anonymous, by default)"},
		{carol, "registry:other:*", "registry:other:", `resource "registry:other" is not governed by the policy (default deny)`},
		{carol, "foo:bar:baz", "foo:bar:", `resource "foo:bar" is not governed by the policy (default deny)`},
	}
	for _, tt := range tests {
		req, err := scope.Parse(tt.scope)
		if err != nil {
			t.Fatal(err)
		}
		g, rule := p.Grant(tt.subject, req)
		if g.String() != tt.want || rule != tt.rule {
			t.Errorf("Grant(%s, %s)\n got %s  %s\nwant %s  %s", tt.subject.User, tt.scope, g, rule, tt.want, tt.rule)
		}
	}
	// A hand-built scope is checked too.
	g, rule := p.Grant(carol, scope.Scope{Type: "repository", Name: "a/../b", Actions: []string{"pull"}})
	if len(g.Actions) != 0 || rule != `"a/../b" is not a repository name (deny)` {
		t.Errorf("Grant of a bad name = %v %q", g, rule)
	}
}

func TestNilPolicyDeniesEverything(t *testing.T) {
	var p *Policy
	if d := p.Decide(carol, "x"); d.Actions != nil || d.Rule != "no policy loaded (default deny)" {
		t.Errorf("Decide = %+v", d)
	}
	if p.MayPull(carol, "x") {
		t.Error("MayPull = true")
	}
	if ok, _ := p.MayListCatalog(carol); ok {
		t.Error("MayListCatalog = true")
	}
	if g, _ := p.Grant(carol, scope.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}); len(g.Actions) != 0 {
		t.Errorf("Grant = %v", g)
	}
	var l Live
	if l.Current() != nil || l.Current().MayPull(carol, "x") {
		t.Error("the zero Live must hold no policy")
	}
}

// TestCompiledPolicyIsImmutable: changing the Config after Compile changes
// nothing in the Policy.
func TestCompiledPolicyIsImmutable(t *testing.T) {
	c, err := decode(demo)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Admins[0] = "authenticated"
	c.Repositories["public/**"][0].Who[0] = "authenticated"
	c.Repositories["public/**"][0].Actions[0] = "*"
	delete(c.Repositories, "team-a/**")
	c.Repositories["**"] = []Grant{{Who: []string{"anonymous"}, Actions: []string{"*"}}}
	if d := p.Decide(anon, "public/x"); !reflect.DeepEqual(d.Actions, []string{Pull}) {
		t.Errorf("anonymous on public/x: %+v", d)
	}
	if d := p.Decide(alice, "team-a/x"); !reflect.DeepEqual(d.Actions, all) {
		t.Errorf("alice on team-a/x: %+v", d)
	}
	if d := p.Decide(bob, "team-a/x"); d.Actions != nil {
		t.Errorf("bob on team-a/x: %+v", d)
	}
}

// TestLiveSwap: a reader that takes Current once decides entirely under one
// policy, while another goroutine keeps swapping.
func TestLiveSwap(t *testing.T) {
	pullOnly := mustCompile(t, "policy:\n  repositories:\n    '**': [{who: [anonymous], actions: [pull]}]\n  catalog: []\n")
	pushOnly := mustCompile(t, "policy:\n  repositories:\n    '**': [{who: [anonymous], actions: [push]}]\n")
	l := NewLive(pullOnly)
	if l.Current() != pullOnly {
		t.Fatal("NewLive did not store the policy")
	}
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		next := pushOnly
		for {
			select {
			case <-stop:
				return
			default:
				next = l.Swap(next)
			}
		}
	}()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for range 2000 {
				p := l.Current()
				d := p.Decide(anon, "a/b")
				cat, _ := p.MayListCatalog(anon)
				if p.MayPull(anon, "a/b") != (len(d.Actions) == 1 && d.Actions[0] == Pull) || cat == (p == pullOnly) {
					t.Errorf("inconsistent decisions under one policy: %v, catalog %v", d, cat)
					return
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	<-writerDone
}
