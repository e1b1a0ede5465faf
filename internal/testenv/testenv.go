// Package testenv is what tests learn from the machine they run on: where
// the module's source tree is, and what to do when something a test needs
// (a Keycloak, Chromium, skopeo) is not there.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Missing skips the test for a missing dependency, or fails it under
// CI=true, where nothing that matters may skip.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s is not available", what)
	}
	t.Skipf("%s is not available", what)
}

// ModuleRoot is the directory holding the registry-stack module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the registry-stack module")
	}
	return filepath.Dir(mod), nil
}
