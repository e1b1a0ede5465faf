// Package testartifacts keeps what tests produce for people to read after a
// run, under $TEST_ARTIFACTS_DIR (set by the test command; without it
// nothing is kept): stack logs in stack-logs/, browser screenshots in
// screenshots/, measured figures in figures.txt.
package testartifacts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns $TEST_ARTIFACTS_DIR/sub, creating it, or "" when the variable
// is unset or the directory cannot be made (the test logs why; a missing
// artifact never fails a test).
func Dir(t testing.TB, sub string) string {
	t.Helper()
	root := os.Getenv("TEST_ARTIFACTS_DIR")
	if root == "" {
		return ""
	}
	dir := filepath.Join(root, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("test artifacts: %v", err)
		return ""
	}
	return dir
}

// FileName turns a test name into something usable in a file name.
func FileName(testName string) string {
	return strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(testName)
}

// Figure reports a measured value (never asserted): as a test log line
// "FIGURE <name>: <value>" and appended to $TEST_ARTIFACTS_DIR/figures.txt,
// since `go test` without -v prints no logs of passing tests.
func Figure(t testing.TB, name, value string) {
	t.Helper()
	line := fmt.Sprintf("FIGURE %s: %s", name, value)
	t.Log(line)
	dir := os.Getenv("TEST_ARTIFACTS_DIR")
	if dir == "" {
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, "figures.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Logf("figures.txt: %v", err)
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintln(f, line)
}
