package policy

import (
	"fmt"
	"testing"
)

// realistic is a policy of the size a mid-sized organisation would write:
// a namespace per team, shared areas, personal namespaces and a few
// exceptions.
const realistic = `
policy:
  admins: ["role:registry-admin", "client-role:registry/admin"]
  repositories:
    "team-a/**": [{who: ["group:/eng/team-a"], actions: ["*"]}]
    "team-b/**": [{who: ["group:/eng/team-b"], actions: ["*"]}]
    "team-c/**": [{who: ["group:/eng/team-c"], actions: ["*"]}]
    "team-d/**": [{who: ["group:/eng/team-d"], actions: ["*"]}]
    "team-e/**": [{who: ["group:/eng/team-e"], actions: ["*"]}]
    "team-f/**": [{who: ["group:/eng/team-f"], actions: ["*"]}]
    "team-a/releases/**":
      - {who: ["group:/eng"], actions: [pull]}
      - {who: ["user:service-account-release-bot"], actions: [pull, push]}
    "platform/**":
      - {who: [authenticated], actions: [pull]}
      - {who: ["group:/eng/platform"], actions: [pull, push, delete]}
    "platform/base/*":
      - {who: [anonymous, authenticated], actions: [pull]}
      - {who: ["group:/eng/platform"], actions: [pull, push]}
    "public/**":
      - {who: [anonymous, authenticated], actions: [pull]}
      - {who: ["group:release-managers"], actions: [push]}
    "public/internal/**": []
    "mirror/**":
      - {who: [authenticated], actions: [pull]}
      - {who: ["user:service-account-mirror"], actions: [push, delete]}
    "**/cache":
      - {who: ["role:ci"], actions: [pull, push, delete]}
    "**/tmp-*":
      - {who: [authenticated], actions: [pull, push, delete]}
    "${user}/**": [{who: [authenticated], actions: ["*"]}]
    "${group}/shared/**": [{who: [authenticated], actions: [pull, push]}]
    "sandbox/${user}/**": [{who: [authenticated], actions: ["*"]}]
    "archive/**": [{who: ["group:/eng"], actions: [pull]}]
    "legacy/*": [{who: ["group:/ops"], actions: [pull, push]}]
    "vendor/?*/**": [{who: [authenticated], actions: [pull]}]
`

// catalogNames returns n repository names spread over the policy's areas
// and beyond, as a real catalog would be.
func catalogNames(n int) []string {
	areas := []string{"team-a", "team-b", "team-c", "team-d", "team-e", "team-f", "team-a/releases",
		"platform", "platform/base", "public", "public/internal", "mirror/docker.io/library", "alice", "bob",
		"team-a/shared", "sandbox/alice", "archive/2023", "legacy", "vendor/acme", "misc", "ml/models"}
	names := make([]string, n)
	for i := range names {
		area := areas[i%len(areas)]
		switch i % 7 {
		case 0:
			names[i] = fmt.Sprintf("%s/service-%d", area, i)
		case 1:
			names[i] = fmt.Sprintf("%s/service-%d/cache", area, i)
		case 2:
			names[i] = fmt.Sprintf("%s/tmp-%d", area, i)
		default:
			names[i] = fmt.Sprintf("%s/app-%d/api", area, i)
		}
	}
	return names
}

var benchSubject = Subject{
	User:        "alice",
	Groups:      []string{"/eng/team-a", "/eng", "/release-managers"},
	RealmRoles:  []string{"offline_access", "uma_authorization", "default-roles-registry"},
	ClientRoles: map[string][]string{"account": {"view-profile", "manage-account"}},
}

// BenchmarkMayPull50k is one catalog request: filtering 50,000 names for
// one subject. ns/name is the cost per repository.
func BenchmarkMayPull50k(b *testing.B) {
	p := mustCompile(b, realistic)
	names := catalogNames(50000)
	b.ReportAllocs()
	b.ResetTimer()
	visible := 0
	for b.Loop() {
		visible = 0
		for _, n := range names {
			if p.MayPull(benchSubject, n) {
				visible++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(names)), "ns/name")
	b.ReportMetric(float64(visible), "visible")
}

func TestMayPullAllocatesNothing(t *testing.T) {
	p := mustCompile(t, realistic)
	names := catalogNames(300)
	allocs := testing.AllocsPerRun(10, func() {
		for _, n := range names {
			p.MayPull(benchSubject, n)
		}
	})
	if allocs != 0 {
		t.Errorf("MayPull allocates %v times per 300 names", allocs)
	}
}
