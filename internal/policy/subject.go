package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Subject is who is asking, as the identity provider describes them.
type Subject struct {
	// Anonymous is a request without credentials. An anonymous subject
	// matches only "anonymous", whatever else is filled in.
	Anonymous bool
	// User is Keycloak's preferred_username; a robot's service-account
	// user is "service-account-<clientId>".
	User string
	// Groups are full group paths ("/team-a/dev"), as Keycloak's group
	// mapper sends them with "Full group path" on.
	Groups      []string
	RealmRoles  []string
	ClientRoles map[string][]string // client id → role names
}

type subjectKind uint8

const (
	anonymousSubject subjectKind = iota
	authenticatedSubject
	userSubject
	groupPathSubject // group:/a/b — that group and its subgroups
	groupNameSubject // group:b — any group whose last path segment is b
	realmRoleSubject
	clientRoleSubject
)

// subject is one compiled `who` entry.
type subject struct {
	kind   subjectKind
	text   string // as written, for explanations
	name   string // user, group path or name, role
	client string // client-role only
}

const subjectKinds = "anonymous, authenticated, user:, group:, role:, client-role:"

func parseSubject(text string) (subject, error) {
	switch text {
	case "anonymous":
		return subject{kind: anonymousSubject, text: text}, nil
	case "authenticated":
		return subject{kind: authenticatedSubject, text: text}, nil
	}
	kind, value, _ := strings.Cut(text, ":")
	sub := subject{text: text, name: value}
	switch kind {
	case "user":
		if value == "" {
			return subject{}, fmt.Errorf("%q names no user", text)
		}
		if strings.ToLower(value) != value {
			return subject{}, fmt.Errorf("%q can never match: Keycloak user names are lower case", text)
		}
		sub.kind = userSubject
	case "group":
		switch {
		case value == "":
			return subject{}, fmt.Errorf("%q names no group", text)
		case strings.HasPrefix(value, "/"):
			if slices.Contains(strings.Split(value[1:], "/"), "") {
				return subject{}, fmt.Errorf("%q is not a group path (/parent/child, no empty segments)", text)
			}
			sub.kind = groupPathSubject
		case strings.Contains(value, "/"):
			return subject{}, fmt.Errorf("%q: a group name without a leading '/' is one path segment (write the full path /%s)", text, value)
		default:
			sub.kind = groupNameSubject
		}
	case "role":
		if value == "" {
			return subject{}, fmt.Errorf("%q names no role", text)
		}
		sub.kind = realmRoleSubject
	case "client-role":
		// Split at the last '/': client ids may be URLs, role names
		// rarely hold a '/'.
		i := strings.LastIndexByte(value, '/')
		if i <= 0 || i == len(value)-1 {
			return subject{}, fmt.Errorf("%q is not client-role:CLIENT/ROLE", text)
		}
		sub.kind, sub.client, sub.name = clientRoleSubject, value[:i], value[i+1:]
	default:
		return subject{}, fmt.Errorf("%q is not a subject (%s)", text, subjectKinds)
	}
	return sub, nil
}

// matches takes s by pointer: it runs for every name the catalog lists.
func (w *subject) matches(s *Subject) bool {
	switch w.kind {
	case anonymousSubject:
		return s.Anonymous
	case authenticatedSubject:
		return !s.Anonymous
	}
	if s.Anonymous {
		return false
	}
	switch w.kind {
	case userSubject:
		return s.User == w.name
	case groupPathSubject:
		for _, g := range s.Groups {
			if strings.HasPrefix(g, w.name) && (len(g) == len(w.name) || g[len(w.name)] == '/') {
				return true
			}
		}
	case groupNameSubject:
		for _, g := range s.Groups {
			if groupName(g) == w.name {
				return true
			}
		}
	case realmRoleSubject:
		return slices.Contains(s.RealmRoles, w.name)
	case clientRoleSubject:
		return slices.Contains(s.ClientRoles[w.client], w.name)
	}
	return false
}

// groupName is a group's last path segment: "dev" for "/team-a/dev".
func groupName(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// firstMatch returns the first entry of who that s matches.
func firstMatch(who []subject, s *Subject) (*subject, bool) {
	for i := range who {
		if who[i].matches(s) {
			return &who[i], true
		}
	}
	return nil, false
}
