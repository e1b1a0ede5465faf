package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// imageUID is the user the image runs as (USER in the Dockerfile).
const imageUID = 65532

// podmanHost runs podman as root with a storage and state of the test's
// own, so neither the machine's images nor its podman configuration are
// touched.
type podmanHost struct {
	env   []string // for podman and scripts/image.sh
	flags []string // podman's global flags
}

// newPodmanHost needs root (a published port, a chowned data dir), podman
// and runc. The runtime and limits are chosen per call rather than in
// containers.conf: crun cannot run on a host with cgroups v1 and v2 mixed
// ("cgroups in hybrid mode not supported"), and podman asks for
// nofile=1048576 by default, which a host that may not raise its own
// limits (no CAP_SYS_RESOURCE, as in a container or some VMs) refuses
// ("setrlimit RLIMIT_NOFILE: Operation not permitted").
func newPodmanHost(t *testing.T) *podmanHost {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (for containers with a published port)")
	}
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool+" (scripts/deps.sh installs it)")
		}
	}
	dir := t.TempDir()
	// vfs: overlay on overlay fails where the test dir is itself on an
	// overlay filesystem (a CI container).
	storage := filepath.Join(dir, "storage.conf")
	conf := fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	if err := os.WriteFile(storage, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return &podmanHost{
		env: append(os.Environ(), "CONTAINERS_STORAGE_CONF="+storage),
		flags: []string{
			"--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
			"--tmpdir", filepath.Join(dir, "tmp"),
		},
	}
}

// runFlags are the limits every container gets: the host's own open-file
// limit, and a process limit far above what one Go process uses (podman's
// default for root, 1048576, is refused like nofile's).
func runFlags() []string {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return []string{"--ulimit", fmt.Sprintf("nofile=%d:%d", lim.Max, lim.Max), "--ulimit", "nproc=4096:4096"}
}

// podman runs podman and returns its stdout, its stderr and its exit code
// (-1 when it could not run).
func (p *podmanHost) podman(ctx context.Context, args ...string) (string, string, int) {
	cmd := exec.CommandContext(ctx, "podman", append(append([]string{}, p.flags...), args...)...)
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		return stdout.String(), stderr.String() + err.Error(), -1
	}
}

// must runs podman and fails the test unless it exits 0.
func (p *podmanHost) must(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, errOut, code := p.podman(ctx, args...)
	if code != 0 {
		t.Fatalf("podman %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// remove deletes a container at the end of a test; one left behind would
// hold its port and data directory, so failing to remove it is an error.
func (p *podmanHost) remove(t *testing.T, id string) {
	if out, errOut, code := p.podman(context.Background(), "rm", "-f", "-t", "0", id); code != 0 {
		t.Errorf("podman rm -f %s: exit %d\n%s%s", id, code, out, errOut)
	}
}

// container is a registry-stack container on a published loopback port.
type container struct {
	id  string
	url string // http://127.0.0.1:PORT
}

// start runs image detached with data on /data and the registry's port
// published on a loopback port podman picks, and waits until /readyz
// answers 200. It returns how long that took from `podman run`.
func (p *podmanHost) start(t *testing.T, ctx context.Context, image, data string, runArgs ...string) (container, time.Duration) {
	t.Helper()
	began := time.Now()
	args := append([]string{"run", "-d", "-p", "127.0.0.1::5000", "-v", data + ":/data"}, runFlags()...)
	args = append(args, runArgs...)
	id := p.must(t, ctx, append(args, image)...)
	t.Cleanup(func() { p.remove(t, id) })
	port := p.must(t, ctx, "port", id, "5000/tcp") // 127.0.0.1:PORT
	c := container{id: id, url: "http://" + strings.TrimSpace(strings.Split(port, "\n")[0])}
	client := &http.Client{Timeout: 2 * time.Second}
	checked := time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := client.Get(c.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, time.Since(began)
			}
		}
		// Once a second, not on every poll: podman inspect takes a while.
		if time.Since(checked) < time.Second {
			continue
		}
		checked = time.Now()
		if state := p.must(t, ctx, "inspect", "--format", "{{.State.Status}}", id); state != "running" {
			logs, errLogs, _ := p.podman(ctx, "logs", id)
			t.Fatalf("container %s: %s\n%s%s", id, state, logs, errLogs)
		}
	}
	logs, errLogs, _ := p.podman(ctx, "logs", id)
	t.Fatalf("container %s not ready after 60s:\n%s%s", id, logs, errLogs)
	return c, 0
}

// drained checks that the stopped container logged each step of the
// shutdown, in order.
func (p *podmanHost) drained(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	out, errOut, _ := p.podman(ctx, "logs", id)
	logs := out + errOut
	last := -1
	for _, msg := range []string{"registry-stack listening", "shutting down: draining", "stopped accepting new connections", "all requests finished", "msg=stopped"} {
		at := strings.Index(logs, msg)
		if at <= last {
			t.Fatalf("container %s: log line %q missing or out of order:\n%s", id, msg, logs)
		}
		last = at
	}
}

// staticBinary is the binary under test, which an empty image can run
// because stackrun builds it with CGO_ENABLED=0, as `make build` does: the
// image has no C library for a cgo binary to load.
func staticBinary(t *testing.T) string {
	t.Helper()
	bin := stackrun.Binary(t)
	if !isStatic(t, bin) {
		t.Fatalf("%s is not a static binary: the image could not run it", bin)
	}
	return bin
}

// isStatic reports whether the Go binary at path was built without cgo.
func isStatic(t *testing.T, path string) bool {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("build info of %s: %v", path, err)
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "0"
		}
	}
	return false
}

// TestImage builds the image as `make image` does and runs it the way the
// README says: a host directory owned by uid 65532 on /data, the port
// published. Push and pull go through the published port; the image's
// HEALTHCHECK passes; `podman stop` (SIGTERM) drains and exits 0; a new
// container on the same directory serves what the first one stored; a
// root-owned directory stops the container with a message naming the uid.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs containers: not part of the quick checks")
	}
	p := newPodmanHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := staticBinary(t)
	const image = "localhost/registry-stack:e2e"

	began := time.Now()
	build := exec.CommandContext(ctx, filepath.Join(root, "scripts", "image.sh"), bin, image)
	build.Env = p.env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, out)
	}
	testartifacts.Figure(t, "image build from the host binary (scripts/image.sh, podman, vfs)", time.Since(began).Round(time.Millisecond).String())
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The binary is most of it: stripped (make build) or not (stackrun's).
	testartifacts.Figure(t, "image size (podman image inspect --format {{.Size}})",
		fmt.Sprintf("%s bytes, of which the binary %d", p.must(t, ctx, "image", "inspect", "--format", "{{.Size}}", image), fi.Size()))

	// The docker image format keeps what the OCI format has no place for.
	if hc := p.must(t, ctx, "image", "inspect", "--format", "{{json .Config.Healthcheck}}", image); !strings.Contains(hc, `["CMD","/registry-stack","probe"]`) {
		t.Errorf("image healthcheck %s; want CMD /registry-stack probe", hc)
	}
	if user := p.must(t, ctx, "image", "inspect", "--format", "{{.Config.User}}", image); user != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", user)
	}

	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, imageUID, imageUID); err != nil {
		t.Fatal(err)
	}
	// A drain long enough to run the health check inside it.
	c, ready := p.start(t, ctx, image, data, "-e", "REGISTRY_STACK_HTTP_DRAIN_DELAY=10s")
	testartifacts.Figure(t, "image start to ready (podman run -d until /readyz 200)", ready.Round(time.Millisecond).String())

	ref, err := name.ParseReference(strings.TrimPrefix(c.url, "http://")+"/image/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push through the published port: %v", err)
	}
	pull := func(what string) {
		t.Helper()
		got, err := remote.Image(ref, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull %s: %v", what, err)
		}
		// Reading every layer checks each blob against its digest.
		layers, err := got.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("pull %s: %v", what, err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatalf("pull %s: layer: %v", what, err)
			}
			rc.Close()
		}
		if d, err := got.Digest(); err != nil || d != want {
			t.Fatalf("pull %s: digest %s (%v), want %s", what, d, err, want)
		}
	}
	pull("from the first container")

	if out, errOut, code := p.podman(ctx, "healthcheck", "run", c.id); code != 0 {
		t.Errorf("podman healthcheck run: exit %d\n%s%s", code, out, errOut)
	}
	// SIGTERM, what podman stop sends: the HEALTHCHECK fails at once (the
	// drain's 503 on /readyz), and the process drains and exits 0.
	p.must(t, ctx, "kill", "--signal", "TERM", c.id)
	if out, errOut, code := p.podman(ctx, "healthcheck", "run", c.id); code == 0 || !strings.Contains(out+errOut, "unhealthy") {
		t.Errorf("podman healthcheck run while draining: exit %d, want 1 and unhealthy\n%s%s", code, out, errOut)
	}
	if code := p.must(t, ctx, "wait", c.id); code != "0" {
		t.Errorf("exit code after SIGTERM: %s, want 0", code)
	}
	p.drained(t, ctx, c.id)

	// What the first container stored is on the host directory.
	c2, _ := p.start(t, ctx, image, data)
	ref, err = name.ParseReference(strings.TrimPrefix(c2.url, "http://")+"/image/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pull("from a new container on the same directory")
	// 30 s covers drain_delay (5 s) and the in-flight requests; after it
	// podman would SIGKILL (exit 137).
	p.must(t, ctx, "stop", "-t", "30", c2.id)
	if code := p.must(t, ctx, "inspect", "--format", "{{.State.ExitCode}}", c2.id); code != "0" {
		t.Errorf("exit code after podman stop: %s, want 0", code)
	}
	p.drained(t, ctx, c2.id)

	// A directory the image's user may not write: the usual mistake with a
	// bind mount, since the directory keeps its host owner.
	rootOwned := t.TempDir()
	id := p.must(t, ctx, append(append([]string{"run", "-d", "-v", rootOwned + ":/data"}, runFlags()...), image)...)
	t.Cleanup(func() { p.remove(t, id) })
	waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	exit, errWait, _ := p.podman(waitCtx, "wait", id)
	out, errOut, _ := p.podman(ctx, "logs", id)
	if strings.TrimSpace(exit) != "1" {
		t.Fatalf("root-owned /data: exit %q %s, want 1\n%s%s", exit, errWait, out, errOut)
	}
	for _, want := range []string{"data dir /data must be writable by uid 65532 gid 65532", "open /data/.lock: permission denied"} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("root-owned /data: no %q in the logs:\n%s%s", want, out, errOut)
		}
	}
}
