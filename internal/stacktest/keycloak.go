package stacktest

import (
	"os"
	"testing"
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
