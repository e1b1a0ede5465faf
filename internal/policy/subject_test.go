package policy

import (
	"strings"
	"testing"
)

var (
	anon    = Subject{Anonymous: true}
	alice   = Subject{User: "alice", Groups: []string{"/team-a"}}
	bob     = Subject{User: "bob", Groups: []string{"/team-b"}}
	carol   = Subject{User: "carol", RealmRoles: []string{"registry-admin"}}
	ciRobot = Subject{User: "service-account-ci-robot", Groups: []string{"/team-a"}}
)

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		who     string
		yes, no []Subject
	}{
		{"anonymous",
			[]Subject{anon, {Anonymous: true, User: "alice"}},
			[]Subject{alice, {}}},
		{"authenticated",
			[]Subject{alice, ciRobot, {}},
			[]Subject{anon}},
		{"user:alice",
			[]Subject{alice, {User: "alice"}},
			[]Subject{bob, {User: "alice2"}, {Anonymous: true, User: "alice"}}},
		{"user:service-account-ci-robot", []Subject{ciRobot}, []Subject{alice}},
		{"group:/team-a",
			[]Subject{alice, ciRobot, {Groups: []string{"/x", "/team-a/dev"}}, {Groups: []string{"/team-a/dev/ops"}}},
			[]Subject{bob, {Groups: []string{"/team-ab"}}, {Groups: []string{"/org/team-a"}}, {Groups: []string{"team-a"}},
				{Anonymous: true, Groups: []string{"/team-a"}}}},
		{"group:/org/team-a",
			[]Subject{{Groups: []string{"/org/team-a"}}, {Groups: []string{"/org/team-a/x"}}},
			[]Subject{alice, {Groups: []string{"/org"}}}},
		{"group:team-a",
			[]Subject{alice, {Groups: []string{"/org/team-a"}}, {Groups: []string{"team-a"}}},
			[]Subject{bob, {Groups: []string{"/team-a/dev"}}, {Groups: []string{"/team-ab"}}, {Anonymous: true, Groups: []string{"/team-a"}}}},
		{"role:registry-admin",
			[]Subject{carol},
			[]Subject{alice, {ClientRoles: map[string][]string{"registry": {"registry-admin"}}}, {Anonymous: true, RealmRoles: []string{"registry-admin"}}}},
		{"client-role:ci/pusher",
			[]Subject{{ClientRoles: map[string][]string{"ci": {"viewer", "pusher"}}}},
			[]Subject{{ClientRoles: map[string][]string{"ci2": {"pusher"}}}, {RealmRoles: []string{"pusher"}}, alice}},
		{"client-role:https://apps.example/ci/pusher",
			[]Subject{{ClientRoles: map[string][]string{"https://apps.example/ci": {"pusher"}}}},
			[]Subject{{ClientRoles: map[string][]string{"https://apps.example": {"ci/pusher"}}}}},
	}
	for _, tt := range tests {
		w, err := parseSubject(tt.who)
		if err != nil {
			t.Errorf("parseSubject(%q): %v", tt.who, err)
			continue
		}
		for _, s := range tt.yes {
			if !w.matches(&s) {
				t.Errorf("%q does not match %+v, want match", tt.who, s)
			}
		}
		for _, s := range tt.no {
			if w.matches(&s) {
				t.Errorf("%q matches %+v, want no match", tt.who, s)
			}
		}
	}
}

func TestSubjectErrors(t *testing.T) {
	tests := []struct{ who, want string }{
		{"grp:x", `"grp:x" is not a subject (anonymous, authenticated, user:, group:, role:, client-role:)`},
		{"Anonymous", `"Anonymous" is not a subject`},
		{"anonymous ", `"anonymous " is not a subject`},
		{"", `"" is not a subject`},
		{"alice", `"alice" is not a subject`},
		{"user:", `"user:" names no user`},
		{"user:Alice", `"user:Alice" can never match: Keycloak user names are lower case`},
		{"group:", `"group:" names no group`},
		{"group:/", `"group:/" is not a group path`},
		{"group:/a/", `"group:/a/" is not a group path`},
		{"group://a", `"group://a" is not a group path`},
		{"group:a/b", `"group:a/b": a group name without a leading '/' is one path segment (write the full path /a/b)`},
		{"role:", `"role:" names no role`},
		{"client-role:ci", `"client-role:ci" is not client-role:CLIENT/ROLE`},
		{"client-role:/pusher", "is not client-role:CLIENT/ROLE"},
		{"client-role:ci/", "is not client-role:CLIENT/ROLE"},
	}
	for _, tt := range tests {
		_, err := parseSubject(tt.who)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseSubject(%q) error = %v, want it to contain %q", tt.who, err, tt.want)
		}
	}
}
