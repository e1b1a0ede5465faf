package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

func TestNoAuthClients(t *testing.T) {
	st := stackrun.Start(t, nil, "--auth", "none")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, err := name.NewRegistry(st.Addr, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	app := reg.Repo("team", "app")
	clientscenarios.PushPullImage(t, ctx, app.Tag("v1"))
	clientscenarios.PushPullImage(t, ctx, app.Tag("v2"))
	clientscenarios.PushPullIndex(t, ctx, reg.Repo("team", "multiarch").Tag("1.0"))
	clientscenarios.PushPullArtifact(t, ctx, reg.Repo("team", "sbom").Tag("latest"))
	clientscenarios.CheckCatalogAndTags(t, ctx, reg, []string{"team/app", "team/multiarch", "team/sbom"}, app, []string{"v1", "v2"})
	clientscenarios.DeleteByDigest(t, ctx, app.Tag("v1"))
	clientscenarios.CheckCatalogAndTags(t, ctx, reg, []string{"team/app"}, app, []string{"v2"})
}

func TestBadInputGetsRegistryErrors(t *testing.T) {
	st := stackrun.Start(t, nil)
	zero := "sha256:" + strings.Repeat("0", 64)
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		code               string
	}{
		{"uppercase repository", "GET", "/v2/Team/App/tags/list", nil, "", 400, "NAME_INVALID"},
		{"underscore-led component", "GET", "/v2/_bad/manifests/latest", nil, "", 400, "NAME_INVALID"},
		{"empty path component", "GET", "/v2/a//b/tags/list", nil, "", 400, "NAME_INVALID"},
		{"short digest", "GET", "/v2/foo/blobs/sha256:abc", nil, "", 400, "DIGEST_INVALID"},
		{"not a digest", "GET", "/v2/foo/blobs/notadigest", nil, "", 400, "DIGEST_INVALID"},
		{"unknown algorithm", "GET", "/v2/foo/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", nil, "", 400, "DIGEST_INVALID"},
		{"bad tag", "GET", "/v2/foo/manifests/-bad", nil, "", 400, "TAG_INVALID"},
		{"unknown blob", "GET", "/v2/foo/blobs/" + zero, nil, "", 404, "BLOB_UNKNOWN"},
		{"unknown manifest", "GET", "/v2/foo/manifests/latest", nil, "", 404, "MANIFEST_UNKNOWN"},
		{"negative page size", "GET", "/v2/_catalog?n=-1", nil, "", 400, "PAGINATION_NUMBER_INVALID"},
		{"garbage page size", "GET", "/v2/foo/tags/list?n=x", nil, "", 400, "PAGINATION_NUMBER_INVALID"},
		{"garbage manifest", "PUT", "/v2/foo/manifests/latest", map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, "{garbage", 400, "MANIFEST_INVALID"},
		{"unknown endpoint", "GET", "/v2/foo/nothing/here", nil, "", 404, "UNSUPPORTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := send(t, tc.method, st.URL+tc.path, tc.header, strings.NewReader(tc.body))
			status, code := a.status, a.code()
			if status != tc.status || code != tc.code {
				t.Errorf("%s %s = %d %s, want %d %s", tc.method, tc.path, status, code, tc.status, tc.code)
			}
		})
	}
	t.Run("range beyond upload offset", func(t *testing.T) {
		loc := startUpload(t, st.URL, "foo")
		a := send(t, "PATCH", loc, map[string]string{"Content-Range": "100-102", "Content-Type": "application/octet-stream"}, strings.NewReader("abc"))
		status, code := a.status, a.code()
		if status != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("PATCH with a gap = %d %s, want 416", status, code)
		}
	})
	t.Run("content not matching its digest", func(t *testing.T) {
		loc := startUpload(t, st.URL, "foo")
		a := send(t, "PUT", loc+"&digest="+zero, map[string]string{"Content-Type": "application/octet-stream"}, strings.NewReader("hello"))
		status, code := a.status, a.code()
		if status != http.StatusBadRequest || code != "DIGEST_INVALID" {
			t.Errorf("PUT with wrong digest = %d %s, want 400 DIGEST_INVALID", status, code)
		}
		if status := send(t, "HEAD", st.URL+"/v2/foo/blobs/"+zero, nil, nil).status; status != http.StatusNotFound {
			t.Errorf("mismatched blob is served: HEAD = %d", status)
		}
	})
	t.Run("blob range beyond end", func(t *testing.T) {
		dgst := pushBlob(t, st.URL, "foo", []byte("0123456789"))
		status := send(t, "GET", st.URL+"/v2/foo/blobs/"+dgst, map[string]string{"Range": "bytes=100-200"}, nil).status
		if status != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("GET blob with range past the end = %d, want 416", status)
		}
	})
	if status := send(t, "GET", st.URL+"/v2/", nil, nil).status; status != 200 {
		t.Fatalf("registry stopped serving after bad input: /v2/ = %d", status)
	}
}

// answer is one HTTP answer, read whole (the answers tests read are small).
type answer struct {
	status int
	header http.Header
	body   string
}

// code is the answer's first registry error code, if it has one.
func (a answer) code() string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal([]byte(a.body), &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// send sends one request and reads its answer.
func send(t *testing.T, method, url string, header map[string]string, body io.Reader) answer {
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, url, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func startUpload(t *testing.T, base, repo string) string {
	t.Helper()
	resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	return loc
}

func pushBlob(t *testing.T, base, repo string, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	loc := startUpload(t, base, repo)
	if status := finishUpload(t, loc, dgst, strings.NewReader(string(data)), int64(len(data))); status != http.StatusCreated {
		t.Fatalf("push blob: %d", status)
	}
	return dgst
}

// finishUpload sends body (size bytes) as the whole blob dgst to the upload
// at loc and returns the status.
func finishUpload(t *testing.T, loc, dgst string, body io.Reader, size int64) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, loc+"&digest="+dgst, body)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// throttledBlob produces size pseudo-random bytes, pausing after each chunk
// so a signal can land while the upload is in flight.
type throttledBlob struct {
	left, chunk int64
	pause       time.Duration
	sent        int64
	counter     uint64
	progress    atomic.Int64 // sent, readable from the test goroutine
}

func (b *throttledBlob) sentSoFar() int64 { return b.progress.Load() }

func (b *throttledBlob) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if b.sent > 0 && b.sent%b.chunk == 0 {
		time.Sleep(b.pause)
	}
	n := int64(len(p))
	if n > b.left {
		n = b.left
	}
	if room := b.chunk - b.sent%b.chunk; n > room {
		n = room
	}
	for i := int64(0); i < n; i++ {
		b.counter = b.counter*6364136223846793005 + 1442695040888963407
		p[i] = byte(b.counter >> 56)
	}
	b.left -= n
	b.sent += n
	b.progress.Store(b.sent)
	return int(n), nil
}

// TestSIGTERMDuringLargeUpload sends SIGTERM while a 256 MiB blob is being
// uploaded. Either the upload completes within the grace period, or the
// client sees an error it can retry; a partial blob is never served.
func TestSIGTERMDuringLargeUpload(t *testing.T) {
	const size = 256 << 20
	// Hash the exact bytes the throttled reader will produce.
	h := sha256.New()
	if _, err := io.Copy(h, &throttledBlob{left: size, chunk: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	dgst := "sha256:" + hex.EncodeToString(h.Sum(nil))

	tests := []struct {
		name      string
		grace     string
		pause     time.Duration
		wantCompl bool
	}{
		{"grace long enough: upload completes", "60s", 50 * time.Millisecond, true},
		{"grace too short: client gets an error", "1s", 400 * time.Millisecond, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			st := stackrun.Start(t, []string{"REGISTRY_STACK_SHUTDOWN_GRACE=" + tc.grace}, "--data-dir", dataDir)
			loc := startUpload(t, st.URL, "big/blob")
			blob := &throttledBlob{left: size, chunk: 16 << 20, pause: tc.pause}
			req, _ := http.NewRequest(http.MethodPut, loc+"&digest="+dgst, blob)
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/octet-stream")
			type result struct {
				status int
				err    error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- result{err: err}
					return
				}
				resp.Body.Close()
				done <- result{status: resp.StatusCode}
			}()
			for blob.sentSoFar() < 64<<20 {
				time.Sleep(10 * time.Millisecond)
			}
			if err := st.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			res := <-done
			code, err := st.Wait(90 * time.Second)
			if err != nil || code != 0 {
				t.Fatalf("exit code %d (%v), want 0 after SIGTERM", code, err)
			}
			completed := res.err == nil && res.status == http.StatusCreated
			if completed != tc.wantCompl {
				t.Fatalf("upload completed=%v (status %d, err %v), want %v", completed, res.status, res.err, tc.wantCompl)
			}
			if !completed && res.err == nil && res.status < 500 {
				t.Fatalf("interrupted upload got status %d; want a network error or 5xx the client can retry", res.status)
			}
			// Restart on the same data: the blob exists exactly when the
			// client was told it does.
			st2 := stackrun.Start(t, nil, "--data-dir", dataDir)
			resp, err := http.Head(st2.URL + "/v2/big/blob/blobs/" + dgst)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch {
			case completed && (resp.StatusCode != 200 || resp.ContentLength != size):
				t.Fatalf("completed blob: HEAD = %d, length %d", resp.StatusCode, resp.ContentLength)
			case !completed && resp.StatusCode != 404:
				t.Fatalf("interrupted blob is served: HEAD = %d, length %d", resp.StatusCode, resp.ContentLength)
			}
			if !completed {
				// The retry the client would make succeeds.
				loc := startUpload(t, st2.URL, "big/blob")
				if status := finishUpload(t, loc, dgst, &throttledBlob{left: size, chunk: 16 << 20}, size); status != http.StatusCreated {
					t.Fatalf("retried upload = %d", status)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/unknown.yaml", "listen: 127.0.0.1:0\nlisten_port: 5000\n")
	writeFile(t, dir+"/badvalue.yaml", "auth: ldap\n")
	writeFile(t, dir+"/badduration.yaml", "shutdown_grace: soon\n")
	writeFile(t, dir+"/nested.yaml", "keycloak:\n  realm: x\n  relam: y\n")
	writeFile(t, dir+"/passthrough.yaml", "distribution:\n  auth: {}\n")
	writeFile(t, dir+"/badsection.yaml", "distribution:\n  redis:\n    adress: redis:6379\n")
	writeFile(t, dir+"/emptystorage.yaml", "distribution:\n  storage:\n")
	busy := stackrun.Start(t, nil)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown key", nil, []string{"--config", dir + "/unknown.yaml"}, `unknown key "listen_port"`},
		{"unknown nested key", nil, []string{"--config", dir + "/nested.yaml"}, `unknown key "keycloak.relam"`},
		{"bad auth value", nil, []string{"--config", dir + "/badvalue.yaml"}, `auth: "ldap" is not one of none, keycloak`},
		{"bad duration", nil, []string{"--config", dir + "/badduration.yaml"}, `"soon" is not a duration`},
		{"unreadable file", nil, []string{"--config", dir + "/missing.yaml"}, "config file " + dir + "/missing.yaml: cannot read"},
		{"unsupported passthrough section", nil, []string{"--config", dir + "/passthrough.yaml"}, "distribution.auth: unknown section"},
		{"bad key in a passthrough section", nil, []string{"--config", dir + "/badsection.yaml"}, "invalid config: distribution.redis: field adress not found"},
		{"empty passthrough storage", nil, []string{"--config", dir + "/emptystorage.yaml"}, "invalid config: distribution.storage: names no storage driver"},
		{"bad flag value", nil, []string{"--auth", "maybe"}, `auth: "maybe" is not one of none, keycloak`},
		{"unknown env var", []string{"REGISTRY_STACK_LISTN=:1"}, nil, "environment variable REGISTRY_STACK_LISTN: unknown setting"},
		{"bad env value", []string{"REGISTRY_STACK_STORAGE_DELETE=perhaps"}, nil, `environment variable REGISTRY_STACK_STORAGE_DELETE: storage.delete: "perhaps" is not true or false`},
		{"bad listen", nil, []string{"--listen", "nohostport"}, `listen: "nohostport" is not host:port`},
		{"keycloak without url", nil, []string{"--auth", "keycloak"}, "keycloak.url: required when auth is keycloak"},
		{"port in use", nil, []string{"--listen", busy.Addr}, "listen " + busy.Addr + ": address already in use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...)
			code, stdout, stderr := stackrun.RunCLI(t, tc.env, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2 (stderr %q)", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr, tc.want)
			}
			if strings.Contains(stderr, "goroutine") || stdout != "" {
				t.Errorf("unexpected output: stdout %q stderr %q", stdout, stderr)
			}
			// check-config refuses the same configurations the same way;
			// only binding the port is left to serve.
			if tc.name == "port in use" {
				return
			}
			code, _, stderr = stackrun.RunCLI(t, tc.env, append([]string{"check-config"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("check-config: exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestCheckConfigRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/c.yaml", `http_secret: hunter2-http-secret
distribution:
  storage:
    s3:
      region: us-east-1
      bucket: images
      accesskey: AKIAEXAMPLE
      secretkey: s3cr3t-value
`)
	code, stdout, stderr := stackrun.RunCLI(t, nil, "check-config", "--config", dir+"/c.yaml")
	if code != 0 {
		t.Fatalf("check-config exit %d: %s", code, stderr)
	}
	for _, secret := range []string{"hunter2-http-secret", "AKIAEXAMPLE", "s3cr3t-value"} {
		if strings.Contains(stdout, secret) {
			t.Errorf("check-config printed secret %q:\n%s", secret, stdout)
		}
	}
	for _, want := range []string{"bucket: images", "listen: 127.0.0.1:5000", "<redacted>"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := stackrun.RunCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "registry-stack ") {
		t.Fatalf("version = %d %q", code, stdout)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
