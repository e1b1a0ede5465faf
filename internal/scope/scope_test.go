package scope

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/reference"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Scope
	}{
		{"repository:team-a/app:pull,push", Scope{Type: "repository", Name: "team-a/app", Actions: []string{"pull", "push"}}},
		{"repository:app:pull", Scope{Type: "repository", Name: "app", Actions: []string{"pull"}}},
		{"repository(plugin):x:pull", Scope{Type: "repository", Class: "plugin", Name: "x", Actions: []string{"pull"}}},
		{"registry:catalog:*", Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}},
		// A "host:port/" component puts a ':' inside the name.
		{"repository:localhost:5000/app:pull", Scope{Type: "repository", Name: "localhost:5000/app", Actions: []string{"pull"}}},
		{"repository:[::1]:5000/app:pull", Scope{Type: "repository", Name: "[::1]:5000/app", Actions: []string{"pull"}}},
		// Distribution reads an upper-case first component as a host.
		{"repository:Team/app:pull", Scope{Type: "repository", Name: "Team/app", Actions: []string{"pull"}}},
		{"repository:a/b/c/d:delete", Scope{Type: "repository", Name: "a/b/c/d", Actions: []string{"delete"}}},
		{"repository:a__b.c---d/e:pull", Scope{Type: "repository", Name: "a__b.c---d/e", Actions: []string{"pull"}}},
		// Duplicate actions collapse, first order kept.
		{"repository:x:push,pull,push", Scope{Type: "repository", Name: "x", Actions: []string{"push", "pull"}}},
		// Unknown types and actions are kept; they carry no meaning here.
		{"foo:some:thing:bar,baz", Scope{Type: "foo", Name: "some:thing", Actions: []string{"bar", "baz"}}},
		{"repository:x:mount", Scope{Type: "repository", Name: "x", Actions: []string{"mount"}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "want type:name:actions"},
		{"repository", "want type:name:actions"},
		{"repository:x", "want type:name:actions"},
		{"repository:x:", "no actions"},
		{"repository:x:pull,", `action "" must be`},
		{"repository:x:pull,,push", `action "" must be`},
		{"repository:x:Pull", `action "Pull" must be`},
		{"repository:x:pu*", `action "pu*" must be`},
		{":x:pull", `resource type "" must be`},
		{"Repository:x:pull", `resource type "Repository" must be`},
		{"repository(:x:pull", "class must be closed"},
		{"repository():x:pull", `resource class "" must be`},
		{"repository(Plugin):x:pull", `resource class "Plugin" must be`},
		{"repository(a)b:x:pull", "class must be closed"},
		{"repository::pull", "must not be empty"},
		{"repository:team/App:pull", "lower-case path components"},
		{"repository:App:pull", "lower-case path components"},
		{"repository:team-a/:pull", "lower-case path components"},
		{"repository:/app:pull", "lower-case path components"},
		{"repository:a//b:pull", "lower-case path components"},
		{"repository:a/../b:pull", "lower-case path components"},
		{"repository:-a:pull", "lower-case path components"},
		{"repository:a-_b:pull", "lower-case path components"},
		{"repository:a b:pull", "lower-case path components"},
		{"repository:" + strings.Repeat("a", 256) + ":pull", "must not be more than 255"},
		{"registry::*", "must not be empty"},
		{"foo:a\tb:x", "printable ASCII"},
		{"foo:é:x", "printable ASCII"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestParseErrorQuotesClippedInput(t *testing.T) {
	_, err := Parse("repository:" + strings.Repeat("A", 5000) + ":pull")
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "…") {
		t.Errorf("error = %v, want a short message with the input clipped", err)
	}
}

func TestValidateRepositoryAgreesWithReference(t *testing.T) {
	names := []string{
		"a", "a/b", "a.b/c", "a_b", "a__b", "a___b", "a-b", "a---b", "a.-b", "a..b", "a._b",
		"A/b", "A", "a/B", "localhost/a", "localhost:5000/a", "localhost:/a", "localhost:x/a",
		"Host.Example-1.com:443/x/y", "-host/a", "host-/a", "ho_st/a", "[::1]/a", "[::1]:5000/a", "[]/a",
		"[::1", "[g::1]/a", "a/", "/a", "a//b", "", ":5000/a", "a:5000", "a/" + strings.Repeat("b", 255),
		"a/" + strings.Repeat("b", 256), strings.Repeat("b", 255), strings.Repeat("b", 256),
		"host.com/" + strings.Repeat("b", 254) + "/", "1.2.3.4:5/a", "a.b.c/d.e.f",
	}
	for _, n := range names {
		_, refErr := reference.WithName(n)
		err := ValidateRepository(n)
		if (err == nil) != (refErr == nil) {
			t.Errorf("ValidateRepository(%q) = %v, reference.WithName says %v", n, err, refErr)
		}
	}
}

func TestIsPathComponent(t *testing.T) {
	for s, want := range map[string]bool{
		"alice": true, "a.b": true, "a_b": true, "a__b": true, "a--b": true, "a1": true,
		"": false, "Alice": false, "a/b": false, "a*": false, "a?": false, "-a": false, "a-": false,
		"a..b": false, "a___b": false, "a.-b": false, "é": false, "a b": false,
	} {
		if got := IsPathComponent(s); got != want {
			t.Errorf("IsPathComponent(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestString(t *testing.T) {
	for _, s := range []string{
		"repository:team-a/app:pull,push",
		"repository(plugin):x:pull",
		"registry:catalog:*",
		"repository:localhost:5000/app:pull",
	} {
		sc, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := sc.String(); got != s {
			t.Errorf("Parse(%q).String() = %q", s, got)
		}
	}
}

func TestParseAll(t *testing.T) {
	tests := []struct {
		name    string
		params  []string
		want    []string
		errWant []string
	}{
		{"none", nil, nil, nil},
		{"empty parameter", []string{"", "  "}, nil, nil},
		{"one", []string{"repository:a:pull"}, []string{"repository:a:pull"}, nil},
		{
			"space separated in one parameter",
			[]string{"repository:a:pull registry:catalog:*"},
			[]string{"repository:a:pull", "registry:catalog:*"}, nil,
		},
		{
			"duplicates merged, actions united in first-seen order",
			[]string{"repository:a:push", "repository:b:pull repository:a:pull,push", "repository:a:delete"},
			[]string{"repository:a:push,pull,delete", "repository:b:pull"}, nil,
		},
		{
			"class is part of the resource",
			[]string{"repository:a:pull repository(plugin):a:push"},
			[]string{"repository:a:pull", "repository(plugin):a:push"}, nil,
		},
		{
			"bad entries reported, good ones kept",
			[]string{"repository:a:pull repository:Bad:pull", "nonsense", "repository:b:push"},
			[]string{"repository:a:pull", "repository:b:push"},
			[]string{`scope "repository:Bad:pull"`, `scope "nonsense"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseAll(tt.params)
			var gotStr []string
			for _, s := range got {
				gotStr = append(gotStr, s.String())
			}
			if !reflect.DeepEqual(gotStr, tt.want) {
				t.Errorf("scopes = %q, want %q", gotStr, tt.want)
			}
			if len(errs) != len(tt.errWant) {
				t.Fatalf("errors = %v, want %d", errs, len(tt.errWant))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.errWant[i]) {
					t.Errorf("error %d = %v, want it to contain %q", i, e, tt.errWant[i])
				}
			}
		})
	}
}

func TestParseAllDoesNotAliasAcrossMerges(t *testing.T) {
	got, _ := ParseAll([]string{"repository:a:pull", "repository:a:push"})
	again, _ := ParseAll([]string{"repository:a:pull"})
	if len(again[0].Actions) != 1 || len(got[0].Actions) != 2 {
		t.Errorf("got %v and %v", got, again)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"repository:team-a/app:pull,push", "repository(plugin):x:pull", "registry:catalog:*",
		"repository:localhost:5000/a:pull", "foo:a:b:c", "repository:[::1]/a:pull", "a:b:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := Parse(s)
		if err != nil {
			return
		}
		rendered := sc.String()
		again, err := Parse(rendered)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse of its String %q: %v", s, rendered, err)
		}
		if !reflect.DeepEqual(sc, again) || again.String() != rendered {
			t.Fatalf("round trip of %q: %#v != %#v", s, sc, again)
		}
		if all, errs := ParseAll([]string{rendered}); len(errs) != 0 || len(all) != 1 || !reflect.DeepEqual(all[0], sc) {
			t.Fatalf("ParseAll(%q) = %v, %v", rendered, all, errs)
		}
		if sc.Type == TypeRepository {
			if _, err := reference.WithName(sc.Name); err != nil {
				t.Fatalf("accepted repository %q that distribution refuses: %v", sc.Name, err)
			}
		}
	})
}

func FuzzValidateRepository(f *testing.F) {
	for _, s := range []string{"a/b", "localhost:5000/a", "[::1]/a", "A/b", "a__b", "a-_b", "x.y:1/z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, refErr := reference.WithName(s)
		if err := ValidateRepository(s); (err == nil) != (refErr == nil) {
			t.Fatalf("ValidateRepository(%q) = %v, reference.WithName says %v", s, err, refErr)
		}
	})
}

// FuzzParseAll: whatever the token request's scope parameters hold, the
// result names each resource once, every scope renders to one Parse reads
// back, and every action asked for on a resource by a good scope is kept.
func FuzzParseAll(f *testing.F) {
	f.Add("repository:a:pull repository:a:push", "repository:b:pull")
	f.Add("repository(plugin):a:pull", "repository:a:pull,pull")
	f.Add("repository:a:pull  registry:catalog:*", "repository:a")
	f.Add("\trepository:a:pull\n", "repository:localhost:5000/a:push")
	f.Fuzz(func(t *testing.T, p1, p2 string) {
		got, errs := ParseAll([]string{p1, p2})
		seen := map[resource]bool{}
		for _, sc := range got {
			k := resource{sc.Type, sc.Class, sc.Name}
			if seen[k] {
				t.Fatalf("%q %q: resource %v twice in %v", p1, p2, k, got)
			}
			seen[k] = true
			if again, err := Parse(sc.String()); err != nil || !reflect.DeepEqual(again, sc) {
				t.Fatalf("%q %q: %v renders as %q, which parses as %v, %v", p1, p2, sc, sc.String(), again, err)
			}
		}
		good := 0
		for _, field := range strings.Fields(p1 + " " + p2) {
			sc, err := Parse(field)
			if err != nil {
				continue
			}
			good++
			i := slices.IndexFunc(got, func(g Scope) bool { return g.Type == sc.Type && g.Class == sc.Class && g.Name == sc.Name })
			for _, a := range sc.Actions {
				if i < 0 || !slices.Contains(got[i].Actions, a) {
					t.Fatalf("%q %q: %s lost in %v", p1, p2, field, got)
				}
			}
		}
		if good+len(errs) != len(strings.Fields(p1))+len(strings.Fields(p2)) {
			t.Fatalf("%q %q: %d good and %d errors", p1, p2, good, len(errs))
		}
	})
}
