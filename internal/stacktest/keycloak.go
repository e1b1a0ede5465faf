package stacktest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Keycloak describes the real Keycloak the test command started once for the
// whole run (scripts/keycloak.sh writes these variables).
type Keycloak struct {
	URL           string
	AdminUser     string
	AdminPassword string
}

// RequireKeycloak returns the running Keycloak. Without one the test is
// skipped on a developer machine and fails under CI=true, where nothing that
// matters may skip.
func RequireKeycloak(t testing.TB) Keycloak {
	t.Helper()
	k := Keycloak{
		URL:           os.Getenv("KEYCLOAK_URL"),
		AdminUser:     os.Getenv("KEYCLOAK_ADMIN_USER"),
		AdminPassword: os.Getenv("KEYCLOAK_ADMIN_PASSWORD"),
	}
	if k.URL == "" || k.AdminUser == "" {
		Missing(t, "a running Keycloak (KEYCLOAK_URL, KEYCLOAK_ADMIN_USER, KEYCLOAK_ADMIN_PASSWORD; run the tests with `make test`)")
	}
	return k
}

// Missing skips the test for a missing dependency, or fails it under CI.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s is not available", what)
	}
	t.Skipf("%s is not available", what)
}

// OwnKeycloak is a Keycloak started for one test that needs to stop and
// restart it (the shared one must stay up for the other tests).
type OwnKeycloak struct {
	Keycloak
	envFile string
	script  string
}

// StartOwnKeycloak starts a dedicated Keycloak with scripts/keycloak.sh
// (startArgs are passed to its start command, e.g. "--features", ""); it is
// stopped and removed when the test ends.
func StartOwnKeycloak(t testing.TB, startArgs ...string) *OwnKeycloak {
	t.Helper()
	RequireKeycloak(t) // same gating as every Keycloak test
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	k := &OwnKeycloak{envFile: filepath.Join(t.TempDir(), "keycloak.env"), script: filepath.Join(root, "scripts", "keycloak.sh")}
	k.run(t, append([]string{"start", "--env-file", k.envFile}, startArgs...)...)
	t.Cleanup(func() { k.run(t, "stop", "--env-file", k.envFile) })
	env := k.env(t)
	k.Keycloak = Keycloak{URL: env["KEYCLOAK_URL"], AdminUser: env["KEYCLOAK_ADMIN_USER"], AdminPassword: env["KEYCLOAK_ADMIN_PASSWORD"]}
	return k
}

// Pause stops the Keycloak process, keeping its data.
func (k *OwnKeycloak) Pause(t testing.TB) { t.Helper(); k.run(t, "pause", "--env-file", k.envFile) }

// Resume starts it again on the same port with the same realms and keys.
func (k *OwnKeycloak) Resume(t testing.TB) { t.Helper(); k.run(t, "resume", "--env-file", k.envFile) }

func (k *OwnKeycloak) run(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{k.script}, args...)...)
	cmd.Env = withoutSharedKeycloak(os.Environ())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keycloak.sh %s: %v\n%s", args[0], err, out)
	}
	t.Logf("keycloak.sh %s: %s", args[0], strings.TrimSpace(lastLine(string(out))))
}

func (k *OwnKeycloak) env(t testing.TB) map[string]string {
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
