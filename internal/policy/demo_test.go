package policy

import (
	"reflect"
	"testing"
)

// demo is the layout of the demo realm.
const demo = `
policy:
  admins: ["role:registry-admin"]
  repositories:
    "team-a/**":
      - who: ["group:team-a"]
        actions: [pull, push, delete]
    "team-b/**":
      - who: ["group:team-b"]
        actions: [pull, push, delete]
    "public/**":
      - who: [anonymous, authenticated]
        actions: [pull]
      - who: ["group:team-a"]
        actions: [push]
`

// TestDemoLayout checks every cell of the demo: each subject on each kind
// of repository, allowed or denied exactly.
func TestDemoLayout(t *testing.T) {
	p := mustCompile(t, demo)
	var (
		none     []string
		pull     = []string{Pull}
		pullPush = []string{Pull, Push}
	)
	const (
		admin    = "admins (who role:registry-admin)"
		teamA    = `repositories["team-a/**"][0] (who group:team-a, actions pull, push, delete)`
		teamB    = `repositories["team-b/**"][0] (who group:team-b, actions pull, push, delete)`
		noTeamA  = `repositories["team-a/**"]: no grant for this subject`
		noTeamB  = `repositories["team-b/**"]: no grant for this subject`
		pubAnon  = `repositories["public/**"][0] (who anonymous, actions pull)`
		pubUser  = `repositories["public/**"][0] (who authenticated, actions pull)`
		pubTeamA = pubUser + ` and repositories["public/**"][1] (who group:team-a, actions push)`
	)
	subjects := []struct {
		name string
		s    Subject
	}{{"alice", alice}, {"bob", bob}, {"carol", carol}, {"ci-robot", ciRobot}, {"anonymous", anon}}
	repos := []string{"team-a/app", "team-a/x/y", "team-b/app", "public/base", "public", "other/x"}
	type cell struct {
		actions []string
		rule    string
	}
	deny := func(repo string) cell { return cell{none, `no rule matches "` + repo + `" (default deny)`} }
	want := map[string][]cell{
		"alice":     {{all, teamA}, {all, teamA}, {none, noTeamB}, {pullPush, pubTeamA}, {pullPush, pubTeamA}, deny("other/x")},
		"bob":       {{none, noTeamA}, {none, noTeamA}, {all, teamB}, {pull, pubUser}, {pull, pubUser}, deny("other/x")},
		"carol":     {{all, admin}, {all, admin}, {all, admin}, {all, admin}, {all, admin}, {all, admin}},
		"ci-robot":  {{all, teamA}, {all, teamA}, {none, noTeamB}, {pullPush, pubTeamA}, {pullPush, pubTeamA}, deny("other/x")},
		"anonymous": {{none, noTeamA}, {none, noTeamA}, {none, noTeamB}, {pull, pubAnon}, {pull, pubAnon}, deny("other/x")},
	}
	for _, sub := range subjects {
		for i, repo := range repos {
			w := want[sub.name][i]
			d := p.Decide(sub.s, repo)
			if !reflect.DeepEqual(d.Actions, w.actions) || d.Rule != w.rule {
				t.Errorf("%s on %s\n got %v %s\nwant %v %s", sub.name, repo, d.Actions, d.Rule, w.actions, w.rule)
			}
			if p.MayPull(sub.s, repo) != contains(w.actions, Pull) {
				t.Errorf("%s on %s: MayPull disagrees with Decide", sub.name, repo)
			}
		}
		// Everyone may call the catalog by default; what it shows is
		// filtered by MayPull above.
		if ok, _ := p.MayListCatalog(sub.s); !ok {
			t.Errorf("%s may not list the catalog", sub.name)
		}
	}
}
