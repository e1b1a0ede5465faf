package policy

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// under is a policy with a rule of each shape MayPullUnder looks at.
const under = `
policy:
  admins: ["role:registry-admin"]
  repositories:
    "team-a/**": [{who: ["group:team-a"], actions: [pull, push]}]
    "team-a/secret/**": []
    "public/**": [{who: [anonymous, authenticated], actions: [pull]}]
    "push-only/**": [{who: [authenticated], actions: [push, delete]}]
    "apps/*/web": [{who: [authenticated], actions: [pull]}]
    "*/tools": [{who: ["role:tools"], actions: [pull]}]
    "v?/**": [{who: ["user:bob"], actions: [pull]}]
    "src/**/cache": [{who: ["role:ci"], actions: [pull]}]
    "exact/name": [{who: ["user:bob"], actions: [pull]}]
    "${user}/**": [{who: [authenticated], actions: ["*"]}]
    "${group}/shared/*": [{who: [authenticated], actions: [pull]}]
    "home/${user}/**": [{who: [authenticated], actions: [pull]}]
`

func TestMayPullUnder(t *testing.T) {
	p := mustCompile(t, under)
	var (
		dave  = Subject{User: "dave", Groups: []string{"/org/ml"}}
		ci    = Subject{User: "ci", RealmRoles: []string{"ci"}}
		tools = Subject{User: "t", RealmRoles: []string{"tools"}}
		upper = Subject{User: "Eve", Groups: []string{"/Ops"}}
	)
	tests := []struct {
		name    string
		subject Subject
		prefix  string
		want    bool
	}{
		{"admin, no rule there", carol, "bulk", true},
		{"admin, root", carol, "", true},
		{"admin, a denied area", carol, "team-a/secret", true},
		{"anonymous admin fields are no admin", Subject{Anonymous: true, RealmRoles: []string{"registry-admin"}}, "bulk", false},

		{"no rule at all for bulk", alice, "bulk", false},
		{"no rule at all for bulk/sub", alice, "bulk/sub", false},
		{"no rule at all, anonymous", anon, "bulk", false},
		{"a literal namespace", alice, "team-a", true},
		{"below a literal namespace", alice, "team-a/sub/x", true},
		{"another team's namespace", bob, "team-a", false},
		{"a name that only starts like the namespace", alice, "team-ab", false},
		{"a narrower deny is not looked at (conservative)", alice, "team-a/secret", true},
		{"a grant without pull", alice, "push-only", false},
		{"a grant without pull, deeper", alice, "push-only/x", false},
		{"anonymous where anonymous may pull", anon, "public", true},
		{"anonymous deep in it", anon, "public/x/y", true},

		{"* segment: the directory before it", alice, "apps", true},
		{"* segment: any name there", alice, "apps/x", true},
		{"* segment: the pattern ends with the prefix", alice, "apps/x/web", false},
		{"* segment: a wrong last segment", alice, "apps/x/api", false},
		{"* segment: too deep", alice, "apps/x/web/y", false},
		{"leading * segment", tools, "anything", true},
		{"leading * segment, nothing below the end", tools, "anything/tools", false},
		{"leading * segment, wrong literal", tools, "anything/else", false},
		{"? segment matches one character", bob, "v1", true},
		{"? segment, below", bob, "v1/x/y", true},
		{"? segment, two characters", bob, "v12", false},
		{"? segment, none", bob, "v", false},

		{"** in the middle, before it", ci, "src", true},
		{"** in the middle, at any depth", ci, "src/a/b/c", true},
		{"** in the middle, another first segment", ci, "other", false},
		{"** in the middle, root", ci, "", true},
		{"literal pattern, its parent", bob, "exact", true},
		{"literal pattern, the name itself has nothing under it", bob, "exact/name", false},
		{"literal pattern, a sibling", bob, "exact/other", false},

		{"${user} namespace", alice, "alice", true},
		{"${user} namespace, deeper", alice, "alice/x/y", true},
		{"someone else's namespace", alice, "bob", false},
		{"${user} inside a pattern", alice, "home", true},
		{"${user} inside a pattern, bound", alice, "home/alice", true},
		{"${user} inside a pattern, another user", alice, "home/bob", false},
		{"anonymous binds no ${user}", Subject{Anonymous: true, User: "alice"}, "alice", false},
		{"a user name that is no path component binds nothing", upper, "eve", false},
		{"${group}", dave, "ml", true},
		{"${group}/shared", dave, "ml/shared", true},
		{"${group}/shared/* has nothing below its last segment", dave, "ml/shared/x", false},
		{"${group}, another segment", dave, "ml/other", false},
		{"${group}, a group dave is not in", dave, "team-b", false},
		{"a group name that is no path component binds nothing", upper, "ops", false},

		{"root: some pull grant", alice, "", true},
		{"root: anonymous may pull public/**", anon, "", true},

		{"invalid prefix: upper case", anon, "Bulk", true},
		{"invalid prefix: empty segment", anon, "a//b", true},
		{"invalid prefix: trailing slash", anon, "a/", true},
		{"invalid prefix: a host alone", anon, "localhost:5000", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.MayPullUnder(tt.subject, tt.prefix); got != tt.want {
				t.Errorf("MayPullUnder(%+v, %q) = %v, want %v", tt.subject, tt.prefix, got, tt.want)
			}
		})
	}
}

// TestMayPullUnderRoot: with no prefix the answer is whether the subject
// has any pull grant at all.
func TestMayPullUnderRoot(t *testing.T) {
	p := mustCompile(t, `
policy:
  repositories:
    "team-a/**": [{who: ["group:team-a"], actions: ["*"]}]
    "team-b/**": [{who: ["group:team-b"], actions: [push]}]
    "${user}/tmp": [{who: ["user:dave"], actions: [pull]}]
`)
	for _, tt := range []struct {
		subject Subject
		want    bool
	}{
		{alice, true},
		{bob, false}, // push only
		{anon, false},
		{Subject{User: "dave"}, true},
		{Subject{User: "eve"}, false},
	} {
		if got := p.MayPullUnder(tt.subject, ""); got != tt.want {
			t.Errorf("MayPullUnder(%+v, \"\") = %v, want %v", tt.subject, got, tt.want)
		}
	}
	var nilPolicy *Policy
	if nilPolicy.MayPullUnder(carol, "") || nilPolicy.MayPullUnder(carol, "x") {
		t.Error("a nil policy lets MayPullUnder say true")
	}
	empty := mustCompile(t, "policy: {}\n")
	if empty.MayPullUnder(alice, "") || empty.MayPullUnder(anon, "x") {
		t.Error("an empty policy lets MayPullUnder say true")
	}
}

func TestMayPullUnderAllocatesNothing(t *testing.T) {
	p := mustCompile(t, realistic)
	prefixes := walkPrefixes(catalogNames(300))
	allocs := testing.AllocsPerRun(10, func() {
		for _, prefix := range prefixes {
			p.MayPullUnder(benchSubject, prefix)
		}
	})
	if allocs != 0 {
		t.Errorf("MayPullUnder allocates %v times per %d prefixes", allocs, len(prefixes))
	}
}

// walkPrefixes returns the directories a storage walk would ask about for
// names: every proper '/'-prefix of each, once, the root first.
func walkPrefixes(names []string) []string {
	set := map[string]bool{}
	for _, n := range names {
		for i := range len(n) {
			if n[i] == '/' {
				set[n[:i]] = true
			}
		}
	}
	return append([]string{""}, slices.Sorted(maps.Keys(set))...)
}

// checkConservative fails when s may pull repo but MayPullUnder denies one
// of the directories above it, the root included, which would prune repo
// from the catalog.
func checkConservative(t *testing.T, p *Policy, s Subject, repo string) {
	if !p.MayPull(s, repo) {
		return
	}
	for _, prefix := range walkPrefixes([]string{repo}) {
		if !p.MayPullUnder(s, prefix) {
			t.Fatalf("MayPull(%+v, %q) by %s, but MayPullUnder(%q) = false", s, repo, p.Decide(s, repo).Rule, prefix)
		}
	}
}

// fuzzWho is what a generated grant may name; fuzzSubjects match them in
// various ways.
var fuzzWho = []string{"anonymous", "authenticated", "user:alice", "user:bob", "group:team-a",
	"group:/team-a", "role:registry-admin", "role:x", "client-role:ci/pusher"}

// fuzzConfig builds a policy from a fuzzer's input: one pattern a line of
// patterns, and each byte of grants one grant, dealt to the patterns in
// turn. A byte picks who (its value modulo len(fuzzWho)+1, the last choice
// being no grant) and actions (the rest, modulo 4: pull, push, pull and
// push, *). admin adds role:registry-admin to the admins.
func fuzzConfig(patterns string, grants []byte, admin bool) Config {
	c := Config{Repositories: map[string][]Grant{}}
	if admin {
		c.Admins = []string{"role:registry-admin"}
	}
	lines := strings.Split(patterns, "\n")
	if len(lines) > 16 {
		lines = lines[:16]
	}
	for _, l := range lines {
		c.Repositories[l] = []Grant{}
	}
	actions := [][]string{{Pull}, {Push}, {Pull, Push}, {"*"}}
	for i, g := range grants {
		pattern := lines[i%len(lines)]
		k := int(g) % (len(fuzzWho) + 1)
		if k == len(fuzzWho) {
			continue
		}
		c.Repositories[pattern] = append(c.Repositories[pattern],
			Grant{Who: []string{fuzzWho[k]}, Actions: actions[int(g)/(len(fuzzWho)+1)%len(actions)]})
	}
	return c
}

// fuzzSeeds turns the test policies into fuzzConfig input, one pull grant
// for each who of theirs.
func fuzzSeeds(f *testing.F, srcs ...string) {
	for _, src := range srcs {
		c, err := decode(src)
		if err != nil {
			f.Fatal(err)
		}
		patterns := slices.Sorted(maps.Keys(c.Repositories))
		var grants []byte
		for round := 0; round < 3; round++ {
			for i := range patterns {
				grants = append(grants, byte(i*7+round*3))
			}
		}
		f.Add(strings.Join(patterns, "\n"), grants, false, "alice", "/team-a", patterns[0])
		f.Add(strings.Join(patterns, "\n"), grants, true, "dave", "/org/ml", strings.Join(namesFor(patterns[len(patterns)-1]), "/"))
	}
}

// FuzzMayPullUnderIsConservative: whatever the policy, subject and name,
// when the subject may pull the name, MayPullUnder says true for every
// directory above it (the root included), so a walk that prunes on it
// never hides a repository the catalog should list.
func FuzzMayPullUnderIsConservative(f *testing.F) {
	fuzzSeeds(f, demo, specificity, fuzzPolicy, realistic, under)
	f.Add("**/x/**\n*/a?/*", []byte{1, 11, 21}, false, "bob", "/g", "q/ab/x/c")
	f.Add("${group}/${user}/**", []byte{1}, false, "u", "/g", "g/u/x")
	f.Fuzz(func(t *testing.T, patterns string, grants []byte, admin bool, user, group, name string) {
		p, err := Compile(fuzzConfig(patterns, grants, admin))
		if err != nil {
			return
		}
		names := []string{name, "a/b/c", "team-a/x/y"}
		for pattern := range strings.SplitSeq(patterns, "\n") {
			names = append(names, namesFor(pattern)...)
		}
		subjects := append(slices.Clip(fuzzSubjects),
			Subject{User: user, Groups: []string{group}},
			Subject{User: group, Groups: []string{"/" + user, group}, RealmRoles: []string{"x"}})
		for _, s := range subjects {
			for _, n := range names {
				checkConservative(t, p, s, n)
			}
		}
	})
}

// BenchmarkMayPullUnder asks about every directory a walk of the 50,000
// names of BenchmarkMayPull50k visits, for a user in several groups and for
// an anonymous request; ns/op is one question, %pruned the share of
// directories answered false.
func BenchmarkMayPullUnder(b *testing.B) {
	p := mustCompile(b, realistic)
	prefixes := walkPrefixes(catalogNames(50000))
	for _, bb := range []struct {
		name string
		s    Subject
	}{{"user", benchSubject}, {"anonymous", anon}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			i, pruned := 0, 0
			for b.Loop() {
				if !p.MayPullUnder(bb.s, prefixes[i]) {
					pruned++
				}
				if i++; i == len(prefixes) {
					i = 0
				}
			}
			b.ReportMetric(float64(pruned)/float64(b.N)*100, "%pruned")
		})
	}
}
