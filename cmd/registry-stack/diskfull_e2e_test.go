package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/registryerrors"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// Sizes of the disk-full test: the registry's storage is a tmpfs of
// diskSize, and /readyz turns 503 below diskMinFree.
const (
	diskSize    = 64 << 20
	diskMinFree = 24 << 20
)

// TestDiskFull runs the real binary on a small tmpfs it mounts (root
// only): abandoned uploads show in /metrics and garbage-collect --uploads
// reclaims them; a full disk makes uploads and manifest PUTs answer 507
// INSUFFICIENT_STORAGE without a server path, /readyz 503 (free-space
// threshold and write probe) and the free-space metric drop; a read-only
// remount fails the write probe; when space or write access returns,
// everything works again without a restart.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs: not part of the quick checks")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	store := filepath.Join(dataDir, "registry") // the filesystem driver's root
	mountTmpfs(t, store, diskSize)
	env := []string{"REGISTRY_STACK_STORAGE_MIN_FREE=" + strconv.Itoa(diskMinFree)}

	t.Run("abandoned upload", func(t *testing.T) {
		st := stackrun.Start(t, env, "--data-dir", dataDir)
		loc := startUpload(t, st.URL, "gc/abandoned")
		chunk := randomBytes(t, 3<<20)
		resp := send(t, http.MethodPatch, loc, map[string]string{"Content-Type": "application/octet-stream"}, bytes.NewReader(chunk))
		if resp.status != http.StatusAccepted {
			t.Fatalf("PATCH: %d %s", resp.status, resp.body)
		}
		// The client goes away without finishing.
		if held := metricValue(t, st.URL, "registry_stack_uploads_bytes"); held < float64(len(chunk)) {
			t.Errorf("registry_stack_uploads_bytes = %.0f, want at least the %d bytes sent", held, len(chunk))
		}
		if n := metricValue(t, st.URL, "registry_stack_uploads"); n != 1 {
			t.Errorf("registry_stack_uploads = %.0f, want 1", n)
		}
		st.Stop(t)
		uploads := filepath.Join(store, "docker", "registry", "v2", "repositories", "gc", "abandoned", "_uploads")
		freeBefore := statfsFree(t, store)

		// By default only uploads older than the purge age (24h) go.
		out := runGC(t, dataDir, "--uploads")
		if !strings.Contains(out, "uploads: removed 0 (0 bytes") || !strings.Contains(out, "kept 1") || dirEntries(t, uploads) != 1 {
			t.Fatalf("garbage-collect --uploads removed a fresh upload:\n%s", out)
		}
		out = runGC(t, dataDir, "--uploads", "--uploads-older-than", "0s", "--dry-run")
		if !strings.Contains(out, "uploads: would remove 1 (") || dirEntries(t, uploads) != 1 {
			t.Fatalf("dry run:\n%s", out)
		}
		out = runGC(t, dataDir, "--uploads", "--uploads-older-than", "0s")
		m := regexp.MustCompile(`uploads: removed 1 \((\d+) bytes`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("garbage-collect --uploads --uploads-older-than 0s:\n%s", out)
		}
		if n, _ := strconv.Atoi(m[1]); n < len(chunk) {
			t.Errorf("reported %d bytes removed, want at least %d", n, len(chunk))
		}
		if !strings.Contains(out, "removed upload ") || !strings.Contains(out, " of gc/abandoned, started ") {
			t.Errorf("the removed upload is not named:\n%s", out)
		}
		if n := dirEntries(t, uploads); n != 0 {
			t.Errorf("_uploads has %d entries after garbage-collect, want none", n)
		}
		if freed := statfsFree(t, store) - freeBefore; freed < int64(len(chunk)) {
			t.Errorf("%d bytes freed on the disk, want at least %d", freed, len(chunk))
		}
		t.Logf("garbage-collect --uploads --uploads-older-than 0s:\n%s", out)
	})

	t.Run("full disk", func(t *testing.T) {
		st := stackrun.Start(t, env, "--data-dir", dataDir)
		reg, _ := name.NewRegistry(st.Addr, name.Insecure)
		repo := reg.Repo("disk", "app")
		before := clientscenarios.PushPullImage(t, ctx, repo.Tag("before"))
		free0 := metricValue(t, st.URL, "registry_stack_storage_free_bytes")
		if free0 < diskMinFree+8<<20 {
			t.Fatalf("free space %.0f at start leaves no room for the test", free0)
		}

		// Below the threshold, but writes still work: /readyz says so
		// before anything fails.
		filler := filepath.Join(store, "filler")
		fill := int64(free0) - (diskMinFree - 8<<20)
		writeFiller(t, filler, fill)
		ready := readyz(t, st.URL)
		if ready.status != http.StatusServiceUnavailable || !strings.Contains(ready.storage, "below storage.min_free") {
			t.Fatalf("/readyz below the threshold = %d %q, want 503 naming storage.min_free", ready.status, ready.storage)
		}
		free1 := metricValue(t, st.URL, "registry_stack_storage_free_bytes")
		if free1 >= diskMinFree || free1 > free0-float64(fill)+1<<20 {
			t.Errorf("free space metric %.0f after writing %d bytes, was %.0f; want below %d", free1, fill, free0, diskMinFree)
		}

		// Fill the rest by pushing, until the registry refuses.
		var refused *answer
		for i := 0; i < 20 && refused == nil; i++ {
			if r := diskPushBlob(t, st.URL, "disk/fill", randomBytes(t, 2<<20)); r.status != http.StatusCreated {
				refused = &r
			}
		}
		if refused == nil {
			t.Fatal("20 pushes of 2 MiB fit on a disk with less than 16 MiB free")
		}
		assertInsufficientStorage(t, "the blob push that filled the disk", *refused, dataDir)
		// Whatever the last push left, nothing is free now.
		writeFiller(t, filler+"-rest", -1)
		if free := statfsFree(t, store); free > 64<<10 {
			t.Fatalf("%d bytes still free after filling", free)
		}

		assertInsufficientStorage(t, "blob upload", diskPushBlob(t, st.URL, "disk/app", randomBytes(t, 256<<10)), dataDir)
		// A manifest not stored yet (the annotation makes it new) over
		// blobs that are.
		raw, err := mutate.Annotations(before, map[string]string{"disk": "full"}).(v1.Image).RawManifest()
		if err != nil {
			t.Fatal(err)
		}
		mt, _ := before.MediaType()
		put := send(t, http.MethodPut, st.URL+"/v2/disk/app/manifests/after", map[string]string{"Content-Type": string(mt)}, bytes.NewReader(raw))
		assertInsufficientStorage(t, "manifest PUT", put, dataDir)

		// The write probe notices within its reuse time.
		ready = waitReadyz(t, st.URL, func(r readyAnswer) bool { return strings.Contains(r.storage, "no space left on device") })
		if ready.status != http.StatusServiceUnavailable || !strings.Contains(ready.storage, "below storage.min_free") {
			t.Errorf("/readyz on a full disk = %d %q", ready.status, ready.storage)
		}
		if strings.Contains(ready.body, dataDir) {
			t.Errorf("/readyz names the data dir: %s", ready.body)
		}
		if free := metricValue(t, st.URL, "registry_stack_storage_free_bytes"); free > 64<<10 {
			t.Errorf("free space metric %.0f on a full disk", free)
		}
		t.Logf("full disk: /readyz %d %s", ready.status, ready.body)

		// Space returns: everything works again, same process.
		for _, f := range []string{filler, filler + "-rest"} {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		ready = waitReadyz(t, st.URL, func(r readyAnswer) bool { return r.status == http.StatusOK })
		if ready.status != http.StatusOK {
			t.Fatalf("/readyz after freeing space = %d %s", ready.status, ready.body)
		}
		if free := metricValue(t, st.URL, "registry_stack_storage_free_bytes"); free < diskMinFree {
			t.Errorf("free space metric %.0f after freeing space", free)
		}
		clientscenarios.PushPullImage(t, ctx, repo.Tag("after"))
		img, err := remote.Image(repo.Tag("before"), remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull the image pushed before the disk filled: %v", err)
		}
		want, _ := before.Digest()
		if got, _ := img.Digest(); got != want {
			t.Errorf("image pushed before the disk filled now has digest %s", got)
		}

		// A read-only remount: free space is fine, the write probe is not.
		remount(t, store, "ro")
		ready = waitReadyz(t, st.URL, func(r readyAnswer) bool { return r.status != http.StatusOK })
		if ready.status != http.StatusServiceUnavailable || !strings.Contains(ready.storage, "read-only file system") || strings.Contains(ready.storage, "min_free") {
			t.Errorf("/readyz on a read-only disk = %d %q, want 503 from the write probe alone", ready.status, ready.storage)
		}
		if strings.Contains(ready.body, dataDir) {
			t.Errorf("/readyz names the data dir: %s", ready.body)
		}
		t.Logf("read-only: /readyz %d %s", ready.status, ready.body)
		remount(t, store, "rw")
		ready = waitReadyz(t, st.URL, func(r readyAnswer) bool { return r.status == http.StatusOK })
		if ready.status != http.StatusOK {
			t.Fatalf("/readyz after remounting read-write = %d %s", ready.status, ready.body)
		}
		clientscenarios.PushPullImage(t, ctx, repo.Tag("after-ro"))
	})
}

// TestStorageMetrics needs no root: /metrics serves the stack's storage
// metrics next to distribution's own, and garbage-collect refuses a
// negative --uploads-older-than as a usage error.
func TestStorageMetrics(t *testing.T) {
	st := stackrun.Start(t, nil)
	if r := send(t, http.MethodGet, st.URL+"/v2/", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/v2/ = %d", r.status)
	}
	body := send(t, http.MethodGet, st.URL+"/metrics", nil, nil).body
	for _, want := range []string{"registry_http_requests_total{", "promhttp_metric_handler_requests_total{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if free := metricValue(t, st.URL, "registry_stack_storage_free_bytes"); free <= 0 {
		t.Errorf("registry_stack_storage_free_bytes = %.0f", free)
	}
	for _, m := range []string{"registry_stack_uploads_bytes", "registry_stack_uploads"} {
		if v := metricValue(t, st.URL, m); v != 0 {
			t.Errorf("%s = %.0f on a fresh registry, want 0", m, v)
		}
	}
	st.Stop(t)
	code, _, stderr := stackrun.RunCLI(t, nil, "garbage-collect", "--data-dir", st.DataDir, "--uploads", "--uploads-older-than", "-1h")
	if code != 2 || !strings.Contains(stderr, "--uploads-older-than -1h0m0s: must not be negative") {
		t.Errorf("negative --uploads-older-than: exit %d, stderr %q; want 2 and the flag named", code, stderr)
	}
}

// mountTmpfs mounts a tmpfs of size bytes at dir for the test.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (the test mounts a tmpfs)")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("a tmpfs mount (%v: %s)", err, bytes.TrimSpace(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// Lazily, so the temp dir cleanup that follows still works.
			_ = exec.Command("umount", "-l", dir).Run()
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v: %s", mode, dir, err, out)
	}
}

// writeFiller writes a file of size bytes, or until the disk is full when
// size is negative.
func writeFiller(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for written := int64(0); size < 0 || written < size; {
		n := int64(len(buf))
		if size >= 0 && size-written < n {
			n = size - written
		}
		if _, err := f.Write(buf[:n]); err != nil {
			if size < 0 && errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
		written += n
	}
}

func statfsFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

func dirEntries(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return len(entries)
}

func runGC(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	code, out, stderr := stackrun.RunCLI(t, nil, append([]string{"garbage-collect", "--data-dir", dataDir}, args...)...)
	if code != 0 {
		t.Fatalf("garbage-collect %v: exit %d\n%s%s", args, code, out, stderr)
	}
	return out
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// diskPushBlob pushes data as one blob (POST, then PUT with the body) and
// returns the first answer that is not a success, or the PUT's.
func diskPushBlob(t *testing.T, base, repo string, data []byte) answer {
	t.Helper()
	r := send(t, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil, nil)
	if r.status != http.StatusAccepted {
		return r
	}
	loc := r.header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	sum := sha256.Sum256(data)
	return send(t, http.MethodPut, loc+"&digest=sha256:"+hex.EncodeToString(sum[:]),
		map[string]string{"Content-Type": "application/octet-stream"}, bytes.NewReader(data))
}

// assertInsufficientStorage: 507 with the registry error code
// INSUFFICIENT_STORAGE, and no server path anywhere in the answer.
func assertInsufficientStorage(t *testing.T, what string, r answer, dataDir string) {
	t.Helper()
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	_ = json.Unmarshal([]byte(r.body), &e)
	if r.status != http.StatusInsufficientStorage || len(e.Errors) == 0 || e.Errors[0].Code != registryerrors.CodeInsufficientStorage {
		t.Errorf("%s on a full disk: %d %s; want 507 with code INSUFFICIENT_STORAGE", what, r.status, r.body)
	}
	if strings.Contains(r.body, dataDir) {
		t.Errorf("%s: the answer names the data dir: %s", what, r.body)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			if strings.Contains(v, dataDir) {
				t.Errorf("%s: header %s names the data dir: %s", what, k, v)
			}
		}
	}
}

type readyAnswer struct {
	status  int
	storage string // the storage check's answer
	body    string
}

func readyz(t *testing.T, base string) readyAnswer {
	t.Helper()
	r := send(t, http.MethodGet, base+"/readyz", nil, nil)
	var v struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("/readyz answer %q: %v", r.body, err)
	}
	return readyAnswer{status: r.status, storage: v.Checks["storage"], body: r.body}
}

// waitReadyz polls /readyz until done says so, for longer than the write
// probe's result is reused, and returns the last answer.
func waitReadyz(t *testing.T, base string, done func(readyAnswer) bool) readyAnswer {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := readyz(t, base)
		if done(r) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricValue reads one unlabelled metric from /metrics.
func metricValue(t *testing.T, base, metric string) float64 {
	t.Helper()
	r := send(t, http.MethodGet, base+"/metrics", nil, nil)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(metric) + ` (\S+)$`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("/metrics has no %s", metric)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", metric, m[1], err)
	}
	return v
}
