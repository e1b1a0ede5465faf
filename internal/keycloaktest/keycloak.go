// Package keycloaktest is the one Keycloak fixture for tests: the shared
// Keycloak the test command started (Require), a Keycloak of a test's own
// that it may stop and restart (StartOwn), scratch realms set up with the
// production bootstrap code and deleted when the test ends (NewRealm,
// TempRealm), users, key providers, and docker tokens from Keycloak or from
// a stack in front of it.
package keycloaktest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/bootstrap"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// Server is a running Keycloak and its admin login.
type Server struct {
	URL           string
	AdminUser     string
	AdminPassword string
}

// Require returns the Keycloak the test command started once for the whole
// run (scripts/keycloak.sh writes KEYCLOAK_URL, KEYCLOAK_ADMIN_USER and
// KEYCLOAK_ADMIN_PASSWORD). Without one the test is skipped on a developer
// machine and fails under CI=true.
func Require(t testing.TB) Server {
	t.Helper()
	s := Server{
		URL:           os.Getenv("KEYCLOAK_URL"),
		AdminUser:     os.Getenv("KEYCLOAK_ADMIN_USER"),
		AdminPassword: os.Getenv("KEYCLOAK_ADMIN_PASSWORD"),
	}
	if s.URL == "" || s.AdminUser == "" {
		testenv.Missing(t, "a running Keycloak (KEYCLOAK_URL, KEYCLOAK_ADMIN_USER, KEYCLOAK_ADMIN_PASSWORD; run the tests with `make test`)")
	}
	return s
}

// adminTimeout bounds each admin request and each fixture step: generous,
// since a loaded machine can take tens of seconds to create or delete a
// realm, and a test must not mistake that for a failure.
const adminTimeout = 2 * time.Minute

// Connection is how bootstrap reaches this Keycloak as its admin.
func (s Server) Connection() bootstrap.Connection {
	return bootstrap.Connection{KeycloakURL: s.URL, AdminUser: s.AdminUser, AdminPassword: s.AdminPassword, Timeout: adminTimeout}
}

// Admin logs in to the admin API; the test fails if that fails.
func (s Server) Admin(t testing.TB) *bootstrap.Admin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	a, err := bootstrap.Login(ctx, s.Connection(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// OwnServer is a Keycloak started for one test that needs to stop and
// restart it (the shared one must stay up for the other tests).
type OwnServer struct {
	Server
	envFile string
	script  string
	prefix  []string
}

// StartOwn starts a dedicated Keycloak with scripts/keycloak.sh (startArgs
// are passed to its start command, e.g. "--features", ""); it is stopped and
// removed when the test ends.
func StartOwn(t testing.TB, startArgs ...string) *OwnServer {
	t.Helper()
	return StartOwnUnder(t, nil, startArgs...)
}

// StartOwnUnder is StartOwn with keycloak.sh, and so Keycloak and its
// readiness checks, run under a command prefix such as `ip netns exec
// NAME`. The distribution must be fetched already: nothing is downloaded
// where the prefix may leave no network.
func StartOwnUnder(t testing.TB, prefix []string, startArgs ...string) *OwnServer {
	t.Helper()
	Require(t) // same gating as every Keycloak test
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	k := &OwnServer{envFile: filepath.Join(t.TempDir(), "keycloak.env"), script: filepath.Join(root, "scripts", "keycloak.sh"), prefix: prefix}
	k.run(t, append([]string{"start", "--env-file", k.envFile}, startArgs...)...)
	t.Cleanup(func() { k.run(t, "stop", "--env-file", k.envFile) })
	env := k.env(t)
	k.Server = Server{URL: env["KEYCLOAK_URL"], AdminUser: env["KEYCLOAK_ADMIN_USER"], AdminPassword: env["KEYCLOAK_ADMIN_PASSWORD"]}
	return k
}

// Pause stops the Keycloak process, keeping its data.
func (k *OwnServer) Pause(t testing.TB) { t.Helper(); k.run(t, "pause", "--env-file", k.envFile) }

// Resume starts it again on the same port with the same realms and keys.
func (k *OwnServer) Resume(t testing.TB) { t.Helper(); k.run(t, "resume", "--env-file", k.envFile) }

// run gives keycloak.sh more than its own start limit (600 s), so the
// script, not this timeout, says why a start failed.
func (k *OwnServer) run(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 11*time.Minute)
	defer cancel()
	argv := append(append(append([]string{}, k.prefix...), "bash", k.script), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = withoutSharedKeycloak(os.Environ())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keycloak.sh %s: %v\n%s", args[0], err, out)
	}
	t.Logf("keycloak.sh %s: %s", args[0], strings.TrimSpace(lastLine(string(out))))
}

func (k *OwnServer) env(t testing.TB) map[string]string {
	t.Helper()
	out, err := exec.Command("bash", "-c", `source "$1" && env | grep ^KEYCLOAK_`, "bash", k.envFile).Output()
	if err != nil {
		t.Fatalf("read %s: %v", k.envFile, err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if name, value, ok := strings.Cut(line, "="); ok {
			env[name] = value
		}
	}
	return env
}

// withoutSharedKeycloak drops the variables describing the shared Keycloak
// (exported by the test command), so the script picks a port of its own
// instead of the shared one's.
func withoutSharedKeycloak(environ []string) []string {
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KEYCLOAK_PORT", "KEYCLOAK_PID", "KEYCLOAK_INSTANCE_DIR", "KEYCLOAK_LOG":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
