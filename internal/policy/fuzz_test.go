package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/scope"
)

var fuzzSubjects = []Subject{
	anon, alice, bob, carol, ciRobot, {},
	{User: "dave", Groups: []string{"/org/team-a/dev", "/team-c"}, RealmRoles: []string{"x"}, ClientRoles: map[string][]string{"ci": {"pusher"}}},
	{User: "*", Groups: []string{"/**", "/", ""}},
}

// checkDecisions checks what must hold for any policy, subject and name.
func checkDecisions(t *testing.T, p *Policy, s Subject, repo string) Decision {
	d := p.Decide(s, repo)
	if d.Rule == "" {
		t.Fatalf("Decide(%+v, %q): empty rule", s, repo)
	}
	if !isCanonical(d.Actions) {
		t.Fatalf("Decide(%+v, %q): actions %q not a canonical subset", s, repo, d.Actions)
	}
	if p.MayPull(s, repo) != slices.Contains(d.Actions, Pull) {
		t.Fatalf("Decide(%+v, %q) = %+v, but MayPull disagrees", s, repo, d)
	}
	req := scope.Scope{Type: scope.TypeRepository, Name: repo, Actions: []string{Pull, Push, Delete, "*", "mount"}}
	g, rule := p.Grant(s, req)
	if rule != d.Rule || g.Name != repo {
		t.Fatalf("Grant(%+v, %q) = %v %q, Decide says %q", s, repo, g, rule, d.Rule)
	}
	for _, a := range g.Actions {
		if a != "*" && !slices.Contains(d.Actions, a) || a == "*" && len(d.Actions) != 3 {
			t.Fatalf("Grant(%+v, %q) gave %q beyond %q", s, repo, g.Actions, d.Actions)
		}
	}
	return d
}

func isCanonical(actions []string) bool {
	i := 0
	for _, a := range []string{Pull, Push, Delete} {
		if i < len(actions) && actions[i] == a {
			i++
		}
	}
	return i == len(actions) && (actions == nil || len(actions) > 0)
}

// namesFor turns a pattern into names that may match it, so the fuzzer
// reaches the matching code and not only default deny.
func namesFor(pattern string) []string {
	r := strings.NewReplacer("**", "x/y", "*", "ab", "?", "z", "${user}", "alice", "${group}", "team-a")
	return []string{r.Replace(pattern), strings.NewReplacer("/**", "", "**/", "", "*", "", "?", "q", "${user}", "bob", "${group}", "dev").Replace(pattern)}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		demo, specificity,
		"policy:\n  repositories:\n    '${user}/**': [{who: [authenticated], actions: ['*']}]\n",
		"policy:\n  catalog: []\n  admins: ['client-role:ci/admin', 'group:/ops']\n",
		"policy:\n  repositories:\n    'a/**/b/*?c': [{who: ['user:x', 'group:y'], actions: [pull]}]\n",
		"policy:\n  repositories:\n    x:\n",
		"policy: [1, 2]",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := decode(src)
		if err != nil {
			return
		}
		p, err := Compile(c)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "policy.") {
				t.Fatalf("Compile error does not name a setting: %v", err)
			}
			return
		}
		repos := []string{"team-a/app", "public", "a/b/c", "x"}
		for pattern := range c.Repositories {
			repos = append(repos, namesFor(pattern)...)
		}
		for _, s := range fuzzSubjects {
			for _, repo := range repos {
				checkDecisions(t, p, s, repo)
			}
			p.MayListCatalog(s)
		}
		checkDenyByDefault(t, c, repos)
	})
}

// checkDenyByDefault: once "anonymous" and "authenticated" name someone
// else, a user the policy does not name, and the anonymous caller, may do
// nothing anywhere.
func checkDenyByDefault(t *testing.T, c Config, repos []string) {
	t.Helper()
	const nobody, someone = "nobody-zq", "user:someone-else"
	swap := func(who []string) []string {
		out := make([]string, len(who))
		for i, w := range who {
			out[i] = w
			if w == "anonymous" || w == "authenticated" {
				out[i] = someone
			}
		}
		return out
	}
	named := Config{Admins: swap(c.Admins), Catalog: swap(c.Catalog), Repositories: map[string][]Grant{}}
	for pattern, grants := range c.Repositories {
		for _, g := range grants {
			if slices.ContainsFunc(g.Who, func(w string) bool { return strings.Contains(w, nobody) }) {
				return // the fuzzer named our stranger
			}
			named.Repositories[pattern] = append(named.Repositories[pattern], Grant{Who: swap(g.Who), Actions: g.Actions})
		}
	}
	p, err := Compile(named)
	if err != nil {
		return
	}
	for _, s := range []Subject{{User: nobody}, {Anonymous: true}} {
		for _, repo := range append(repos, nobody, nobody+"/app") {
			if d := p.Decide(s, repo); d.Actions != nil {
				t.Fatalf("%+v, named by no rule, may %v %q by %s", s, d.Actions, repo, d.Rule)
			}
		}
		if ok, _ := p.MayListCatalog(s); ok {
			t.Fatalf("%+v, named by no rule, may list the catalog", s)
		}
	}
}

// fuzzPolicy has a rule of every kind, placeholders included.
const fuzzPolicy = `
policy:
  admins: ["role:registry-admin"]
  catalog: [authenticated]
  repositories:
    "**":
      - {who: [anonymous], actions: [pull]}
    "team-a/**":
      - {who: ["group:/team-a"], actions: ["*"]}
    "public/**":
      - {who: [anonymous, authenticated], actions: [pull]}
      - {who: ["group:team-a", "client-role:ci/pusher"], actions: [push]}
    "${user}/**":
      - {who: [authenticated], actions: ["*"]}
    "${group}/shared/*":
      - {who: [authenticated], actions: [pull, push]}
    "*/cache?":
      - {who: ["user:service-account-ci-robot"], actions: [push, delete]}
`

func FuzzDecide(f *testing.F) {
	p := mustCompile(f, fuzzPolicy)
	f.Add(false, "alice", "/team-a", "", "alice/app")
	f.Add(false, "bob", "/org/team-b", "registry-admin", "team-b/shared/x")
	f.Add(true, "", "", "", "public/x")
	f.Add(false, "*", "/*", "", "x/y")
	f.Add(false, "service-account-ci-robot", "/team-a/ci", "", "x/cache1")
	f.Fuzz(func(t *testing.T, anonymous bool, user, group, role, repo string) {
		s := Subject{Anonymous: anonymous, User: user, Groups: []string{group}, RealmRoles: []string{role},
			ClientRoles: map[string][]string{"ci": {role}}}
		d := checkDecisions(t, p, s, repo)
		if strings.HasPrefix(d.Rule, `repositories["${user}/**"]`) && d.Actions != nil &&
			(anonymous || !scope.IsPathComponent(user) || repo != user && !strings.HasPrefix(repo, user+"/")) {
			t.Fatalf("user %q (anonymous %v) got %q by %s", user, anonymous, repo, d.Rule)
		}
		if strings.HasPrefix(d.Rule, `repositories["${group}/shared/*"]`) && d.Actions != nil &&
			(anonymous || !strings.HasPrefix(repo, groupName(group)+"/shared/")) {
			t.Fatalf("group %q (anonymous %v) got %q by %s", group, anonymous, repo, d.Rule)
		}
		if anonymous && d.Actions != nil && !slices.Equal(d.Actions, []string{Pull}) {
			t.Fatalf("anonymous got %q on %q by %s", d.Actions, repo, d.Rule)
		}
	})
}
