package registryerrors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/registry"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// newRegistry serves the real embedded registry (auth none) behind the
// guard and returns its URL and data dir.
func newRegistry(t *testing.T) (string, string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPSecret = strings.Repeat("s", 32)
	reg, err := registry.New(context.Background(), &cfg, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Shutdown() })
	srv := httptest.NewServer(New(reg, Options{}))
	t.Cleanup(srv.Close)
	return srv.URL, cfg.DataDir
}

type result struct {
	status int
	code   string
	body   string
}

func send(t *testing.T, method, url string, header map[string]string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	return readResult(t, resp)
}

func readResult(t *testing.T, resp *http.Response) result {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	_ = json.Unmarshal(b, &e)
	r := result{status: resp.StatusCode, body: string(b)}
	if len(e.Errors) > 0 {
		r.code = e.Errors[0].Code
	}
	return r
}

// startUpload opens an upload session and returns its Location.
func startUpload(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/v2/foo/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

func manifestWithConfigDigest(d string) string {
	return `{"schemaVersion":2,"mediaType":"` + ociManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d + `","size":2},"layers":[]}`
}

// TestDistributionServerErrorsBecomeClientErrors sends the requests that
// distribution v3.1.2 answers with 500 (and sometimes the storage path)
// through the guard.
func TestDistributionServerErrorsBecomeClientErrors(t *testing.T) {
	base, dataDir := newRegistry(t)
	octet := map[string]string{"Content-Type": "application/octet-stream"}
	manifest := map[string]string{"Content-Type": ociManifest}
	long := strings.Repeat("a", 300)
	tests := []struct {
		name, method, path string
		upload             bool // path is appended to a fresh upload's Location
		header             map[string]string
		body               string
		status             int
		code               string
	}{
		{"repository name over 255", "GET", "/v2/" + long + "/tags/list", false, nil, "", 400, "NAME_INVALID"},
		{"catalog last too long", "GET", "/v2/_catalog?last=" + long + long, false, nil, "", 400, "NAME_INVALID"},
		{"catalog last NUL", "GET", "/v2/_catalog?last=%00", false, nil, "", 400, "NAME_INVALID"},
		{"tags last too long", "GET", "/v2/foo/tags/list?last=" + long, false, nil, "", 400, "TAG_INVALID"},
		{"unparsable Content-Range", "PATCH", "", true, map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "abc"}, "x", 416, "RANGE_INVALID"},
		{"Content-Range overflowing", "PATCH", "", true, map[string]string{"Content-Range": "0-99999999999999999999"}, "x", 416, "RANGE_INVALID"},
		{"PATCH with a form Content-Type", "PATCH", "", true, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "x", 415, "BLOB_UPLOAD_INVALID"},
		{"PUT with unparsable Content-Range", "PUT", "&digest=sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", true, map[string]string{"Content-Range": "0-x"}, "x", 416, "RANGE_INVALID"},
		{"manifest with a short digest", "PUT", "/v2/foo/manifests/v1", false, manifest, manifestWithConfigDigest("sha256:abc"), 400, "MANIFEST_INVALID"},
		{"manifest with an unknown algorithm", "PUT", "/v2/foo/manifests/v1", false, manifest, manifestWithConfigDigest("md5:d41d8cd98f00b204e9800998ecf8427e"), 400, "MANIFEST_INVALID"},
		{"manifest schemaVersion 3", "PUT", "/v2/foo/manifests/v1", false, manifest, `{"schemaVersion":3}`, 400, "MANIFEST_INVALID"},
		{"manifest null", "PUT", "/v2/foo/manifests/v1", false, manifest, `null`, 400, "MANIFEST_INVALID"},
		{"unknown tag (storage path in detail)", "DELETE", "/v2/foo/manifests/latest", false, nil, "", 404, "MANIFEST_UNKNOWN"},
		{"schemaVersion a string (Go type in detail)", "PUT", "/v2/foo/manifests/v1", false, manifest, `{"schemaVersion":"2"}`, 400, "MANIFEST_INVALID"},
		{"still a client error", "GET", "/v2/foo/manifests/-bad", false, nil, "", 400, "TAG_INVALID"},
		{"valid PATCH passes", "PATCH", "", true, octet, "abc", 202, ""},
		{"PUT on the API base", "PUT", "/v2/", false, nil, "", 405, "UNSUPPORTED"},
		{"OPTIONS on the API base passes", "OPTIONS", "/v2/", false, nil, "", 200, ""},
		{"upload id the storage cannot name", "GET", "/v2/foo/blobs/uploads/=", false, nil, "", 404, "BLOB_UPLOAD_UNKNOWN"},
		{"upload id of 300 characters", "DELETE", "/v2/foo/blobs/uploads/" + long, false, nil, "", 404, "BLOB_UPLOAD_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := base + tc.path
			if tc.upload {
				u = startUpload(t, base) + tc.path
			}
			got := send(t, tc.method, u, tc.header, strings.NewReader(tc.body))
			if got.status != tc.status || got.code != tc.code {
				t.Errorf("%s = %d %s, want %d %s; body %s", tc.name, got.status, got.code, tc.status, tc.code, got.body)
			}
			for _, leak := range []string{dataDir, "/docker/registry/v2", "Go struct", "strconv."} {
				if strings.Contains(got.body, leak) {
					t.Errorf("answer holds %q: %s", leak, got.body)
				}
			}
			if strings.Count(got.body, `"errors"`) > 1 {
				t.Errorf("error body written more than once: %s", got.body)
			}
		})
	}
}

// TestMalformedChunkedBody sends a chunk length that is not hex.
func TestMalformedChunkedBody(t *testing.T) {
	base, _ := newRegistry(t)
	loc := startUpload(t, base)
	path := strings.TrimPrefix(loc, base)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := readResult(t, resp)
	if got.status != 400 || got.code != "BLOB_UPLOAD_INVALID" {
		t.Errorf("malformed chunked PATCH = %d %s, want 400 BLOB_UPLOAD_INVALID; body %s", got.status, got.code, got.body)
	}
}

// TestDiskFull points an upload's data file at /dev/full, so the
// filesystem driver's write fails with a real ENOSPC from the kernel.
// (Manifests are written to fresh temp files, out of reach of this trick.)
func TestDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	base, dataDir := newRegistry(t)
	repo := filepath.Join(dataDir, "registry/docker/registry/v2/repositories/foo")
	full := func(t *testing.T, path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(path)
		if err := os.Symlink("/dev/full", path); err != nil {
			t.Fatal(err)
		}
	}
	uploadData := func(t *testing.T, loc string) {
		uuid := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], base+"/v2/foo/blobs/uploads/")
		full(t, filepath.Join(repo, "_uploads", uuid, "data"))
	}
	// Larger than the driver's write buffer, so Write itself fails.
	chunk := make([]byte, 1<<20)
	tests := []struct {
		name string
		send func(t *testing.T) result
	}{
		{"upload PATCH", func(t *testing.T) result {
			loc := startUpload(t, base)
			uploadData(t, loc)
			return send(t, "PATCH", loc, map[string]string{"Content-Type": "application/octet-stream"}, bytes.NewReader(chunk))
		}},
		{"upload PUT", func(t *testing.T) result {
			loc := startUpload(t, base)
			uploadData(t, loc)
			return send(t, "PUT", loc+"&digest="+digest.FromBytes(chunk).String(), nil, bytes.NewReader(chunk))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.send(t)
			if got.status != http.StatusInsufficientStorage || got.code != CodeInsufficientStorage {
				t.Fatalf("= %d %s, want 507 %s; body %s", got.status, got.code, CodeInsufficientStorage, got.body)
			}
			if !strings.Contains(got.body, msgStorageFull) || strings.Contains(got.body, dataDir) || strings.Contains(got.body, "/dev/full") {
				t.Errorf("507 body should say the storage is full and name no path: %s", got.body)
			}
		})
	}
}

// TestReadOnlyStorage bind-mounts the registry's storage read-only under
// a running registry (root only): writes answer 507 saying so, reads keep
// working, and once it is writable again writes succeed without a restart.
func TestReadOnlyStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (to bind-mount the storage read-only)")
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPSecret = strings.Repeat("s", 32)
	storage := filepath.Join(cfg.DataDir, "registry")
	src := t.TempDir()
	if err := os.MkdirAll(storage, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(src, storage, "", syscall.MS_BIND, ""); err != nil {
		testenv.Missing(t, fmt.Sprintf("bind mounts (%v)", err))
	}
	t.Cleanup(func() { _ = syscall.Unmount(storage, syscall.MNT_DETACH) })
	remount := func(flags uintptr) {
		t.Helper()
		if err := syscall.Mount("", storage, "", syscall.MS_REMOUNT|syscall.MS_BIND|flags, ""); err != nil {
			t.Fatalf("remount %s: %v", storage, err)
		}
	}
	reg, err := registry.New(context.Background(), &cfg, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Shutdown() })
	srv := httptest.NewServer(New(reg, Options{}))
	t.Cleanup(srv.Close)
	base := srv.URL

	blob := []byte("{}")
	if got := send(t, "PUT", startUpload(t, base)+"&digest="+digest.FromBytes(blob).String(), nil, bytes.NewReader(blob)); got.status != http.StatusCreated {
		t.Fatalf("push config: %d %s", got.status, got.body)
	}
	m := manifestWithConfigDigest(digest.FromBytes(blob).String())
	manifest := map[string]string{"Content-Type": ociManifest}
	remount(syscall.MS_RDONLY)
	for _, tc := range []struct {
		name string
		send func() result
	}{
		{"upload POST", func() result { return send(t, "POST", base+"/v2/foo/blobs/uploads/", nil, nil) }},
		{"manifest PUT", func() result { return send(t, "PUT", base+"/v2/foo/manifests/v1", manifest, strings.NewReader(m)) }},
	} {
		got := tc.send()
		if got.status != http.StatusInsufficientStorage || got.code != CodeInsufficientStorage || !strings.Contains(got.body, msgStorageReadOnly) {
			t.Errorf("%s on read-only storage = %d %s, want 507 %s saying read-only; body %s", tc.name, got.status, got.code, CodeInsufficientStorage, got.body)
		}
		if strings.Contains(got.body, cfg.DataDir) || strings.Contains(got.body, src) {
			t.Errorf("%s: 507 names a path: %s", tc.name, got.body)
		}
	}
	if got := send(t, "HEAD", base+"/v2/foo/blobs/"+digest.FromBytes(blob).String(), nil, nil); got.status != http.StatusOK {
		t.Errorf("reading from read-only storage = %d, want 200", got.status)
	}
	remount(0)
	if got := send(t, "PUT", base+"/v2/foo/manifests/v1", manifest, strings.NewReader(m)); got.status != http.StatusCreated {
		t.Errorf("manifest PUT once writable again = %d %s, want 201; body %s", got.status, got.code, got.body)
	}
}

// TestClassifyServerErrors feeds the guard the error answers distribution
// writes (with its own errcode serializer) for storage failures it cannot
// be made to produce here without root: read-only storage, quota.
func TestClassifyServerErrors(t *testing.T) {
	// How a cache's failed call to its upstream reaches the answer.
	const (
		upstreamDown    = `Get "http://up.example:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused`
		upstreamRefused = `Get "http://up.example:5000/v2/foo/manifests/v1": unauthorized: authentication required`
	)
	pathErr := func(errno syscall.Errno) error {
		return &os.PathError{Op: "open", Path: "/srv/data/registry/docker/registry/v2/repositories/foo/_uploads/x/data", Err: errno}
	}
	tests := []struct {
		name    string
		method  string
		path    string
		errs    errcode.Errors
		status  int
		code    string
		message string
		// upstream makes the guard a pull-through cache's.
		upstream string
	}{
		{"read-only", "PUT", "/v2/foo/manifests/v1", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(pathErr(syscall.EROFS))}, 507, CodeInsufficientStorage, msgStorageReadOnly, ""},
		{"full", "PATCH", "/v2/foo/blobs/uploads/x", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(pathErr(syscall.ENOSPC).Error())}, 507, CodeInsufficientStorage, msgStorageFull, ""},
		{"quota", "POST", "/v2/foo/blobs/uploads/", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(pathErr(syscall.EDQUOT))}, 507, CodeInsufficientStorage, msgStorageFull, ""},
		{"other fault keeps 500, loses the path", "GET", "/v2/foo/tags/list", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(pathErr(syscall.EIO))}, 500, "UNKNOWN", "", ""},
		{"unavailable keeps 503", "GET", "/v2/", errcode.Errors{errcode.ErrorCodeUnavailable.WithDetail(pathErr(syscall.EIO))}, 503, "UNAVAILABLE", "", ""},
		{"cache's upstream down", "GET", "/v2/foo/manifests/v1", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(upstreamDown)}, 503, "UNAVAILABLE", msgUpstreamDown, "http://up.example:5000"},
		{"cache refused by its upstream", "GET", "/v2/foo/blobs/sha256:x", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(upstreamRefused)}, 502, "UNKNOWN", msgUpstreamRefused, "http://up.example:5000"},
		{"another registry's upstream", "GET", "/v2/foo/manifests/v1", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(upstreamDown)}, 500, "UNKNOWN", "", "http://other.example:5000"},
		{"not a cache", "GET", "/v2/foo/manifests/v1", errcode.Errors{errcode.ErrorCodeUnknown.WithDetail(upstreamDown)}, 500, "UNKNOWN", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_ = errcode.ServeJSON(w, tc.errs)
			}), Options{Upstream: tc.upstream})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			got := readResult(t, rec.Result())
			if got.status != tc.status || got.code != tc.code {
				t.Errorf("= %d %s, want %d %s", got.status, got.code, tc.status, tc.code)
			}
			if tc.message != "" && !strings.Contains(got.body, tc.message) {
				t.Errorf("body %s lacks %q", got.body, tc.message)
			}
			for _, leak := range []string{"/srv/data", "_uploads", "input/output error", "connection refused"} {
				if strings.Contains(got.body, leak) {
					t.Errorf("body leaks %q: %s", leak, got.body)
				}
			}
		})
	}
}

// TestSuccessStreams checks that a successful answer reaches the client
// while the handler is still writing: it is never held back.
func TestSuccessStreams(t *testing.T) {
	release := make(chan struct{})
	h := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		<-release
		_, _ = w.Write([]byte("second"))
	}), Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(release)
	resp, err := http.Get(srv.URL + "/v2/foo/blobs/sha256:x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first bytes = %q, %v; want them before the handler finishes", buf, err)
	}
}
