package main

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/dockertoken"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/netnstest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
)

// airGap is a loopback-only network namespace and the means to run the
// stack and its CLI in it and to reach them from the test.
type airGap struct {
	ns  *netnstest.Namespace
	run stackrun.Runner
	// cliOutput collects what the CLI commands printed, for the lookup
	// check.
	cliOutput []string
}

func newAirGap(t *testing.T) *airGap {
	ns := netnstest.New(t)
	return &airGap{ns: ns, run: stackrun.Runner{Prefix: ns.Prefix(), Client: ns.Client()}}
}

// airGapEnv makes every Go program in the namespace use Go's resolver (so
// the namespace's resolv.conf and hosts apply) and print each name it
// looks up.
var airGapEnv = []string{netnstest.GoResolverEnv}

// start runs `registry-stack serve` in the namespace.
func (a *airGap) start(t *testing.T, args ...string) *stackrun.Stack {
	t.Helper()
	return a.run.Start(t, airGapEnv, args...)
}

// cli runs a registry-stack command in the namespace and fails the test
// unless it exits 0. bootstrap runs this way; so can any other command
// that has to work air-gapped (an import of an image bundle, for one).
func (a *airGap) cli(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := a.run.RunCLI(t, airGapEnv, args...)
	a.cliOutput = append(a.cliOutput, stderr)
	if code != 0 {
		t.Fatalf("registry-stack %s in the namespace: exit %d\n%s%s", args[0], code, stdout, stderr)
	}
	return stdout
}

// remote is the go-containerregistry option that connects from inside the
// namespace.
func (a *airGap) remote() remote.Option { return remote.WithTransport(a.ns.Transport()) }

// outboundFailures are what the stack's logs would show had it tried to
// reach anything beyond loopback, or to resolve a name.
var outboundFailures = []string{"network is unreachable", "no such host", "lookup ", "i/o timeout", "server misbehaving"}

// checkOffline fails the test if the stack or a CLI command looked up a
// name (over DNS or in /etc/hosts) or logged a failed outbound connection
// (or a token: the logins here must not change that either).
func (a *airGap) checkOffline(t *testing.T, st *stackrun.Stack) {
	t.Helper()
	if q := a.ns.Queries(); len(q) != 0 {
		t.Errorf("the stack's namespace resolver received %d DNS queries: %v", len(q), q)
	}
	logs := st.Logs()
	if names := netnstest.GoLookups(logs + strings.Join(a.cliOutput, "\n")); len(names) != 0 {
		t.Errorf("registry-stack looked up host names: %q", names)
	}
	for _, s := range outboundFailures {
		if strings.Contains(logs, s) {
			t.Errorf("the stack's logs hold %q: it tried to reach something beyond loopback", s)
		}
	}
	if strings.Contains(logs, "eyJ") {
		t.Errorf("the stack's logs hold something that looks like a JWT")
	}
}

// TestAirGapped runs registry-stack in a network namespace that has only
// loopback: the registry, the UI and, with a Keycloak started in the same
// namespace, keycloak and oidc logins work with nothing else reachable,
// a bundle exported elsewhere imports unchanged, and no host name is
// resolved.
func TestAirGapped(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a network namespace: not part of the quick checks")
	}
	a := newAirGap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	t.Run("none", func(t *testing.T) {
		st := a.start(t)
		client := a.ns.Client()
		page := airGapGet(t, client, st.URL+"/", "text/html")
		assets := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
		if len(assets) < 3 {
			t.Fatalf("the page links %d static assets, want the stylesheet, icon and scripts:\n%s", len(assets), page)
		}
		for _, m := range assets {
			airGapGet(t, client, st.URL+m[1], "")
		}
		airGapGet(t, client, st.URL+"/ui/config.json", "application/json")
		airGapGet(t, client, st.URL+"/v2/", "")

		reg, _ := name.NewRegistry(st.Addr, name.Insecure)
		clientscenarios.PushPullImage(t, ctx, reg.Repo("airgap", "app").Tag("v1"), a.remote())
		a.checkOffline(t, st)
	})

	// Named so that -run TestAirGapped/none selects it too.
	t.Run("none export import", func(t *testing.T) { airGapRoundTrip(t, ctx, a) })

	t.Run("lookups are seen", func(t *testing.T) {
		// The control for the checks above: the same binary, asked to
		// reach a name, is seen looking it up (by a resolver of its own,
		// so the stack's stays clean).
		ctl := a.ns.Alias(t, "control")
		const host = "keycloak.airgap.invalid"
		code, _, stderr := stackrun.Runner{Prefix: ctl.Prefix()}.RunCLI(t, airGapEnv, "bootstrap",
			"--keycloak-url", "http://"+host+":8080", "--admin-user", "admin", "--admin-password", "admin",
			"--realm", "x", "--service", "x", "--timeout", "5s")
		if code == 0 {
			t.Fatalf("bootstrap against %s succeeded in a namespace without that name", host)
		}
		if names := netnstest.GoLookups(stderr); !slices.Contains(names, host) {
			t.Errorf("GODEBUG shows lookups %q, want %s:\n%s", names, host, stderr)
		}
		if q := ctl.Queries(); len(q) == 0 || q[0].Name != host+"." {
			t.Errorf("the resolver received %v, want queries for %s.", q, host)
		}
	})

	t.Run("with keycloak", func(t *testing.T) {
		// Keycloak runs in the same namespace under a name of its own, so
		// its lookups are counted apart from the stack's.
		kcNS := a.ns.Alias(t, "keycloak")
		// Java looks up the machine's own name at start (the transaction
		// manager asks InetAddress.getLocalHost()); a machine's hosts file
		// names it, the namespace's only names localhost.
		host, err := os.Hostname()
		if err != nil {
			t.Fatal(err)
		}
		kcNS.AddHost(t, netip.MustParseAddr("127.0.0.1"), host)
		kcNS.AddHost(t, netip.IPv6Loopback(), host)
		t0 := time.Now()
		kc := keycloaktest.StartOwnUnder(t, kcNS.Prefix())
		testartifacts.Figure(t, "air-gapped Keycloak start (start-dev, in a loopback-only namespace)", time.Since(t0).Round(time.Second).String())
		// Checked once both logins ran: scripts/keycloak.sh starts Keycloak
		// so that it resolves no name (its own is in the hosts file above,
		// Liquibase's usage report is off).
		t.Cleanup(func() {
			if q := kcNS.Queries(); len(q) != 0 {
				t.Errorf("Keycloak sent %d DNS queries: %v", len(q), q)
			}
		})
		admin := []string{"--keycloak-url", kc.URL, "--admin-user", kc.AdminUser, "--admin-password", kc.AdminPassword}

		t.Run("keycloak", func(t *testing.T) {
			realm := keycloaktest.Realm{Server: kc.Server, Name: "airgap", Service: "registry", User: "alice", Password: "alice-airgap-password"}
			a.cli(t, append(append([]string{"bootstrap"}, admin...), "--realm", realm.Name, "--service", realm.Service, "--user", realm.User, "--password", realm.Password)...)
			st := a.start(t, realm.StackArgs()...)
			airGapLogin(t, ctx, a, st.URL, realm.TokenPath(), realm.Service, realm.User, realm.Password)
			reg, _ := name.NewRegistry(st.Addr, name.Insecure)
			clientscenarios.PushPullImage(t, ctx, reg.Repo("team", "app").Tag("v1"), a.remote(),
				remote.WithAuth(&authn.Basic{Username: realm.User, Password: realm.Password}))
			a.checkOffline(t, st)
		})

		t.Run("oidc", func(t *testing.T) {
			const realm = "airgap-oidc"
			a.cli(t, append(append([]string{"bootstrap"}, admin...), "--realm", realm, "--demo")...)
			st := a.start(t, "--config", filepath.Join("..", "..", "configs", "policy-demo.yaml"),
				"--keycloak-url", kc.URL, "--keycloak-realm", realm, "--public-url=")
			airGapLogin(t, ctx, a, st.URL, "/auth/token", "registry-stack", "alice", "alice-password")
			reg, _ := name.NewRegistry(st.Addr, name.Insecure)
			clientscenarios.PushPullImage(t, ctx, reg.Repo("team-a", "app").Tag("v1"), a.remote(),
				remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-password"}))
			a.checkOffline(t, st)
		})
	})
}

// airGapGet GETs u from inside the namespace, wants a 200 (and the given
// content type, if any) and returns the body.
func airGapGet(t *testing.T, client *http.Client, u, contentType string) string {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); contentType != "" && !strings.HasPrefix(ct, contentType) {
		t.Fatalf("GET %s: Content-Type %q, want %s", u, ct, contentType)
	}
	return string(body)
}

// airGapLogin is `docker login` against the stack: /v2/ challenges, the
// token endpoint answers the user's credentials with a token, and /v2/
// accepts it.
func airGapLogin(t *testing.T, ctx context.Context, a *airGap, base, tokenPath, service, user, password string) {
	t.Helper()
	client := a.ns.Client()
	tokenURL := base + tokenPath
	resp, err := client.Get(base + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tokenURL) {
		t.Fatalf("GET /v2/ without a token: %s, WWW-Authenticate %q; want 401 naming %s", resp.Status, resp.Header.Get("WWW-Authenticate"), tokenURL)
	}
	tok, err := dockertoken.Fetch(ctx, client, tokenURL, dockertoken.Request{Service: service, User: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ with the login's token: %s, want 200", resp.Status)
	}
}
