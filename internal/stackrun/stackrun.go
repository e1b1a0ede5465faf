// Package stackrun runs the real registry-stack binary for end-to-end tests:
// built once per test binary, `serve` started on a random loopback port and
// stopped with SIGTERM (Start), one-shot commands run to completion
// (RunCLI). Logs are kept so tests can assert on them, and saved to
// $TEST_ARTIFACTS_DIR/stack-logs.
package stackrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/testartifacts"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// Binary builds cmd/registry-stack once, as make build does, and returns
// its path. Call it from TestMain or tests; the build is shared by all
// tests in the package.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "registry-stack-bin-")
		if err != nil {
			buildErr = err
			return
		}
		root, err := testenv.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "registry-stack")
		// Built as make build builds it (static, -trimpath, stripped): the
		// tests run what ships, and the image test packs this same binary.
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binPath, "./cmd/registry-stack")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build registry-stack: %v", buildErr)
	}
	return binPath
}

// The built binary is shared by every test in one test process; it is
// written once and only read after that.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Runner runs the binary under a command prefix, such as `ip netns exec
// NAME` for a network namespace, and reaches the stack it starts with its
// own HTTP client (one that can dial where the stack listens). The zero
// Runner runs the binary directly: that is Start and RunCLI.
type Runner struct {
	Prefix []string     // command and arguments the binary runs under
	Client *http.Client // for the readiness checks; nil: http.DefaultClient
}

// command is bin with args, run under the prefix.
func (r Runner) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if len(r.Prefix) == 0 {
		return exec.CommandContext(ctx, bin, args...)
	}
	full := append(append(append([]string{}, r.Prefix[1:]...), bin), args...)
	return exec.CommandContext(ctx, r.Prefix[0], full...)
}

func (r Runner) client() *http.Client {
	if r.Client == nil {
		return http.DefaultClient
	}
	return r.Client
}

// Stack is a running registry-stack process.
type Stack struct {
	URL     string // e.g. http://127.0.0.1:41234
	Addr    string // host:port
	DataDir string
	client  *http.Client
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan struct{}
	exitErr error
}

// Start runs `registry-stack serve` with args plus a random loopback port,
// JSON logs and a temp data dir (unless args set them), no drain delay on
// shutdown (unless env sets REGISTRY_STACK_HTTP_DRAIN_DELAY), and waits for
// /readyz. The process is stopped when the test ends.
func Start(t testing.TB, env []string, args ...string) *Stack {
	t.Helper()
	return Runner{}.Start(t, env, args...)
}

// Start is the package's Start, run under the Runner's prefix. The prefix
// must exec the binary in its own place (as `ip netns exec` and nsenter
// do), so that signals reach the stack.
func (r Runner) Start(t testing.TB, env []string, args ...string) *Stack {
	t.Helper()
	bin := Binary(t)
	s := &Stack{logs: &syncBuffer{}, done: make(chan struct{}), client: r.client()}
	full := append([]string{"serve", "--log-format", "json"}, args...)
	if !hasFlag(args, "--listen") {
		full = append(full, "--listen", "127.0.0.1:0")
	}
	if !hasFlag(args, "--data-dir") {
		s.DataDir = t.TempDir()
		full = append(full, "--data-dir", s.DataDir)
	}
	s.cmd = r.command(context.Background(), bin, full...)
	// No drain on shutdown unless a test asks for one: every test stops
	// its stack, and the default drain delay would add to each.
	s.cmd.Env = append(append(childEnv(), "REGISTRY_STACK_HTTP_DRAIN_DELAY=0s"), env...)
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	s.cmd.Stdout = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start registry-stack: %v", err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			s.logs.Write(append(append([]byte{}, line...), '\n'))
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "registry-stack listening" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
	}()
	go func() {
		s.exitErr = s.cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Stop(t)
		saveLogs(t, s.Logs())
		if t.Failed() {
			t.Logf("registry-stack logs:\n%s", s.Logs())
		}
	})
	select {
	case s.Addr = <-addrc:
	case <-s.done:
		t.Fatalf("registry-stack exited early (%v):\n%s", s.exitErr, s.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("registry-stack did not start listening:\n%s", s.Logs())
	}
	s.URL = "http://" + s.Addr
	s.WaitReady(t, 60*time.Second)
	return s
}

// childEnv is the test process's environment without REGISTRY_STACK_*
// settings, so a developer's shell never changes what a test runs.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_STACK_") {
			env = append(env, kv)
		}
	}
	return env
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// WaitReady polls /readyz until it answers 200.
func (s *Stack) WaitReady(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		resp, err := s.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return
			}
		}
		cancel()
		select {
		case <-s.done:
			t.Fatalf("registry-stack exited (%v):\n%s", s.exitErr, s.Logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("registry-stack not ready after %s:\n%s", within, s.Logs())
}

// Signal sends sig to the process.
func (s *Stack) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns its exit code.
func (s *Stack) Wait(within time.Duration) (int, error) {
	select {
	case <-s.done:
		if s.cmd.ProcessState == nil {
			return -1, s.exitErr
		}
		return s.cmd.ProcessState.ExitCode(), nil
	case <-time.After(within):
		return -1, fmt.Errorf("still running after %s", within)
	}
}

// Stop sends SIGTERM and waits; it kills the process if it does not exit.
func (s *Stack) Stop(t testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if _, err := s.Wait(45 * time.Second); err != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("registry-stack did not stop on SIGTERM: %v", err)
	}
}

// WaitLog waits until the process's logs contain substr, and fails the
// test if they do not within the given time.
func (s *Stack) WaitLog(t testing.TB, substr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(s.Logs(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q after %s:\n%s", substr, within, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logs returns everything the process wrote so far.
func (s *Stack) Logs() string { return s.logs.String() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RunCLI runs the binary with args and returns its exit code, stdout and
// stderr.
func RunCLI(t testing.TB, env []string, args ...string) (int, string, string) {
	t.Helper()
	return Runner{}.RunCLI(t, env, args...)
}

// RunCLI is the package's RunCLI, run under the Runner's prefix.
func (r Runner) RunCLI(t testing.TB, env []string, args ...string) (int, string, string) {
	t.Helper()
	// Built first: the first build on a busy machine must not eat the
	// command's time.
	bin := Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := r.command(ctx, bin, args...)
	cmd.Env = append(childEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run registry-stack %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// saveLogs keeps the process's logs as a test artifact, so the test command
// can check the logs of the whole run (e.g. that no credential leaked).
func saveLogs(t testing.TB, logs string) {
	dir := testartifacts.Dir(t, "stack-logs")
	if dir == "" {
		return
	}
	f, err := os.CreateTemp(dir, testartifacts.FileName(t.Name())+"-*.log")
	if err != nil {
		t.Logf("save logs: %v", err)
		return
	}
	defer f.Close()
	_, _ = f.WriteString(logs)
}
