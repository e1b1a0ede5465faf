package policy

import (
	"regexp"
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern string
		bind    binding
		yes, no []string
	}{
		{pattern: "team-a/**",
			yes: []string{"team-a", "team-a/app", "team-a/app/x/y"},
			no:  []string{"team-ab", "team-ab/app", "team-a-b/app", "team/a", "x/team-a/app"}},
		{pattern: "team-a/*",
			yes: []string{"team-a/app", "team-a/a.b"},
			no:  []string{"team-a", "team-a/app/x"}},
		{pattern: "team-a/app",
			yes: []string{"team-a/app"},
			no:  []string{"team-a/app2", "team-a/ap", "team-a/app/x", "team-a"}},
		{pattern: "**", yes: []string{"a", "a/b/c", "localhost:5000/a"}},
		{pattern: "*/**", yes: []string{"a", "a/b"}},
		{pattern: "**/cache",
			yes: []string{"cache", "a/cache", "a/b/cache"},
			no:  []string{"a/cachex", "cache/a", "xcache"}},
		{pattern: "a/**/b",
			yes: []string{"a/b", "a/x/b", "a/x/y/b", "a/b/b"},
			no:  []string{"a/x/y", "b", "a", "a/bb"}},
		{pattern: "**/x/**",
			yes: []string{"x", "a/x", "x/a", "a/x/b", "a/b/x/c/d"},
			no:  []string{"a/y", "ax/b", "a/xb"}},
		{pattern: "a/**/**/b", yes: []string{"a/b", "a/x/b", "a/x/y/z/b"}, no: []string{"a/x"}},
		{pattern: "a?c",
			yes: []string{"abc", "a.c", "a-c"},
			no:  []string{"ac", "abbc", "a/c"}},
		{pattern: "a*",
			yes: []string{"a", "abc"},
			no:  []string{"a/b", "ba"}},
		{pattern: "*a*b",
			yes: []string{"ab", "xaxb", "aab", "abab"},
			no:  []string{"ba", "abx", "a/b"}},
		{pattern: "*-app",
			yes: []string{"my-app", "x--app"},
			no:  []string{"app", "my/x-app", "my-app2"}},
		{pattern: "*/*/*", yes: []string{"a/b/c"}, no: []string{"a/b", "a/b/c/d"}},
		// A pathological pattern stays fast: the greedy algorithm backtracks
		// only to the last star.
		{pattern: "*a*a*a*a*a*a*a*a*b",
			yes: []string{strings.Repeat("a", 100) + "b"},
			no:  []string{strings.Repeat("a", 200)}},
		{pattern: "**/**/**/**/**/**/z",
			yes: []string{strings.Repeat("a/", 40) + "z"},
			no:  []string{strings.Repeat("a/", 40) + "y"}},
		// Placeholders match their value, literally.
		{pattern: "${user}/**", bind: binding{user: "alice"},
			yes: []string{"alice", "alice/app", "alice/a/b"},
			no:  []string{"bob/app", "alicex/app", "xalice/app"}},
		{pattern: "u-${user}", bind: binding{user: "bob"}, yes: []string{"u-bob"}, no: []string{"u-bobby", "bob"}},
		{pattern: "${group}/shared/*", bind: binding{group: "team-a"},
			yes: []string{"team-a/shared/x"},
			no:  []string{"team-a/x", "team-b/shared/x"}},
		{pattern: "${group}/${user}", bind: binding{user: "alice", group: "team-a"},
			yes: []string{"team-a/alice"},
			no:  []string{"alice/team-a"}},
		{pattern: "${user}*", bind: binding{user: "a"}, yes: []string{"a", "abc"}, no: []string{"ba"}},
		// A value with glob characters is not a glob.
		{pattern: "${user}/x", bind: binding{user: "a*"}, yes: []string{"a*/x"}, no: []string{"ab/x", "a/x"}},
		{pattern: "${user}/x", bind: binding{user: "a?"}, no: []string{"ab/x"}},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pattern)
		if err != nil {
			t.Errorf("compileGlob(%q): %v", tt.pattern, err)
			continue
		}
		for _, name := range tt.yes {
			if !g.match(name, tt.bind) {
				t.Errorf("%q (%+v) does not match %q, want match", tt.pattern, tt.bind, name)
			}
		}
		for _, name := range tt.no {
			if g.match(name, tt.bind) {
				t.Errorf("%q (%+v) matches %q, want no match", tt.pattern, tt.bind, name)
			}
		}
	}
}

func TestGlobErrors(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"", "pattern must not be empty"},
		{"/a", "empty path segment"},
		{"a/", "empty path segment"},
		{"a//b", "empty path segment"},
		{"a**/b", `** must be a whole path segment (as in team-a/** or **/cache), not part of "a**"`},
		{"***", "** must be a whole path segment"},
		{"Team-A/**", `'T' cannot appear in a pattern (allowed: a-z 0-9 . _ - and /, wildcards * ** ?, placeholders ${user} ${group})`},
		{"a b", `' ' cannot appear`},
		{"[ab]/**", `'[' cannot appear`},
		{"tëam/**", `'ë' cannot appear`},
		{"a\\*", `'\\' cannot appear`},
		{"${usr}/**", `"${usr}" is not a placeholder (there are ${user} and ${group})`},
		{"${USER}/**", `"${USER}" is not a placeholder`},
		{"$user/**", `"$user" is not a placeholder`},
		{"a..b/**", `segment "a..b" can never match a repository name`},
		{"-a/**", `segment "-a" can never match`},
		{"a/b_", `segment "b_" can never match`},
	}
	for _, tt := range tests {
		_, err := compileGlob(tt.pattern)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compileGlob(%q) error = %v, want it to contain %q", tt.pattern, err, tt.want)
		}
	}
}

func TestGlobCounts(t *testing.T) {
	tests := []struct {
		pattern        string
		literal, segs  int
		prefix, suffix string
	}{
		{"**", 0, 1, "", ""},
		{"team-a/**", 7, 2, "team-a", ""},
		{"team-a/app", 10, 2, "team-a/app", ""},
		{"a/*/c/**", 5, 4, "a", ""},
		{"a?c/d", 4, 2, "", "d"},
		{"**/x/cache", 8, 3, "", "x/cache"},
		{"${user}/**", 1, 2, "", ""},
		{"x/${group}/y", 4, 3, "x", "y"},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if g.literal != tt.literal || len(g.segs) != tt.segs || g.prefix != tt.prefix || g.suffix != tt.suffix {
			t.Errorf("%q: literal %d, segments %d, prefix %q, suffix %q; want %d, %d, %q, %q",
				tt.pattern, g.literal, len(g.segs), g.prefix, g.suffix, tt.literal, tt.segs, tt.prefix, tt.suffix)
		}
	}
}

// globRegexp is an independent model of the pattern language: every
// segment followed by '/', matched against the name followed by '/', so
// that ** can stand for any number of "segment/" pieces.
func globRegexp(g *glob, b binding) *regexp.Regexp {
	var re strings.Builder
	re.WriteString("^")
	for _, seg := range g.segs {
		if seg.anyDepth {
			re.WriteString("(?:[^/]*/)*")
			continue
		}
		for _, u := range seg.units {
			switch u.kind {
			case starUnit:
				re.WriteString("[^/]*")
			case questUnit:
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(u.value(b)))
			}
		}
		re.WriteString("/")
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}

func FuzzGlobMatch(f *testing.F) {
	f.Add("team-a/**", "team-a", "", "")
	f.Add("**/x/**", "a/x/b", "", "")
	f.Add("a/**/b", "a/b", "", "")
	f.Add("*a*?b", "xaab", "", "")
	f.Add("${user}/**", "alice/x", "alice", "")
	f.Add("${group}*/${user}", "team-ab/c", "c", "team-a")
	f.Fuzz(func(t *testing.T, pattern, name, user, group string) {
		for _, s := range []string{name, user, group} {
			for i := 0; i < len(s); i++ {
				if s[i] >= 0x80 {
					return // ? matches a byte; the model's [^/] a rune
				}
			}
		}
		g, err := compileGlob(pattern)
		if err != nil {
			return
		}
		b := binding{user: user, group: group}
		if got, want := g.match(name, b), globRegexp(g, b).MatchString(name+"/"); got != want {
			t.Fatalf("%q on %q (%+v): match %v, model %v", pattern, name, b, got, want)
		}
	})
}
