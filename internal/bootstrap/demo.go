package bootstrap

import (
	"context"
	"fmt"
	"strings"
)

// The demo layout that configs/policy-demo.yaml expects.
const (
	DemoClientID = "registry-stack"
	DemoRobot    = "ci-robot"
)

// DemoUser is one user of the demo layout.
type DemoUser struct {
	Name, Password string
	Group          string // a group path, or empty
	RealmRole      string // or empty
}

// DemoUsers returns the demo layout's users: alice in /team-a, bob in
// /team-b, carol with the realm role registry-admin.
func DemoUsers() []DemoUser {
	return []DemoUser{
		{Name: "alice", Password: "alice-password", Group: "/team-a"},
		{Name: "bob", Password: "bob-password", Group: "/team-b"},
		{Name: "carol", Password: "carol-password", RealmRole: "registry-admin"},
	}
}

// DemoResult reports the demo layout.
type DemoResult struct {
	Realm        string
	RealmCreated bool
	ClientID     string
	Users        []DemoUser
	Robot        string
	RobotSecret  string
}

// Demo prepares realm for oidc mode with the demo layout, idempotently:
// registry-stack's OIDC client with the groups mapper, the groups /team-a
// and /team-b, the realm role registry-admin, the users of DemoUsers and
// the robot ci-robot whose service account is in /team-a.
func (a *Admin) Demo(ctx context.Context, realm string) (*DemoResult, error) {
	res := &DemoResult{Realm: realm, ClientID: DemoClientID, Users: DemoUsers(), Robot: DemoRobot}
	var err error
	if res.RealmCreated, err = a.EnsureRealm(ctx, realm); err != nil {
		return nil, err
	}
	if _, err := a.EnsureOIDCClient(ctx, realm, DemoClientID); err != nil {
		return nil, err
	}
	for _, u := range res.Users {
		if _, err := a.EnsureUser(ctx, realm, u.Name, u.Password); err != nil {
			return nil, err
		}
		id, err := a.UserID(ctx, realm, u.Name)
		if err != nil {
			return nil, err
		}
		if u.Group != "" {
			if err := a.EnsureMember(ctx, realm, id, u.Group); err != nil {
				return nil, err
			}
		}
		if u.RealmRole != "" {
			if err := a.EnsureRealmRole(ctx, realm, id, u.RealmRole); err != nil {
				return nil, err
			}
		}
	}
	// /team-b exists even before anyone pushes there.
	if _, err := a.EnsureGroup(ctx, realm, "/team-b"); err != nil {
		return nil, err
	}
	if res.RobotSecret, _, err = a.EnsureRobot(ctx, realm, DemoRobot, []string{"/team-a"}); err != nil {
		return nil, err
	}
	return res, nil
}

// Summary renders the demo layout for the terminal. The robot's secret is
// on its own line, "robot <name> secret <secret>", for scripts to read.
func (r *DemoResult) Summary() string {
	var b strings.Builder
	for _, u := range r.Users {
		what := "group " + u.Group
		if u.RealmRole != "" {
			what = "realm role " + u.RealmRole
		}
		fmt.Fprintf(&b, "user %s / %s (%s)\n", u.Name, u.Password, what)
	}
	fmt.Fprintf(&b, "robot %s secret %s\n", r.Robot, r.RobotSecret)
	return b.String()
}
