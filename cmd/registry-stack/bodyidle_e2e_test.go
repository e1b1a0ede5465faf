package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// bodyIdleEnv sets a short http.body_idle_timeout, so a stall is cut within
// the test; the steady senders below send several times within it.
var bodyIdleEnv = []string{"REGISTRY_STACK_HTTP_BODY_IDLE_TIMEOUT=1s"}

// stalledBody sends head, then nothing until the test ends.
func stalledBody(t *testing.T, head []byte) io.Reader {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = pw.Write(head) }()
	return pr
}

// trickleBody sends data in chunks of chunk bytes, one every gap: slow,
// but never silent for the idle timeout.
type trickleBody struct {
	data  []byte
	chunk int
	gap   time.Duration
	sent  atomic.Int64
}

func (b *trickleBody) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.gap)
	n := copy(p, b.data[:min(b.chunk, len(b.data))])
	b.data = b.data[n:]
	b.sent.Add(int64(n))
	return n, nil
}

// outcome is how a request ended: a status, or the error the client saw.
type outcome struct {
	status int
	header http.Header
	err    error
}

func (o outcome) String() string {
	if o.err != nil {
		return "error " + o.err.Error()
	}
	return fmt.Sprint(o.status)
}

// attempt sends req and reports its status, or the error that cut it.
func attempt(req *http.Request) outcome {
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return outcome{status: resp.StatusCode, header: resp.Header}
}

// patch sends body to an upload as a streamed (chunked) PATCH, as docker
// does, or with a Content-Range when resuming at offset (size >= 0).
func patch(t *testing.T, loc string, body io.Reader, offset int64, size int64) outcome {
	t.Helper()
	return attempt(patchRequest(t, loc, body, offset, size))
}

func patchRequest(t *testing.T, loc string, body io.Reader, offset int64, size int64) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, loc, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if size >= 0 {
		req.ContentLength = size
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", offset, offset+size-1))
	}
	return req
}

func absolute(base, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return base + loc
	}
	return loc
}

func randomBlob(n int) ([]byte, string) {
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 9))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(data)
	return data, "sha256:" + hex.EncodeToString(sum[:])
}

// TestStalledUploadIsCutAndResumes: a blob PATCH whose body stops sending
// is cut after http.body_idle_timeout, the log says why, distribution keeps
// what arrived, and the client resumes from there and finishes the blob.
func TestStalledUploadIsCutAndResumes(t *testing.T) {
	st := stackrun.Start(t, bodyIdleEnv)
	data, dgst := randomBlob(200 << 10)
	const sentBeforeStall = 70 << 10
	loc := startUpload(t, st.URL, "slow/app")

	cut := patch(t, loc, stalledBody(t, data[:sentBeforeStall]), 0, -1)
	t.Logf("stalled PATCH: %s", cut)
	if cut.err == nil && cut.status < 400 {
		t.Fatalf("stalled PATCH answered %s; want it cut (a 4xx or a closed connection)", cut)
	}
	if cut.err == nil && cut.status >= 500 {
		t.Errorf("stalled PATCH answered %s: the client stalled, not the server", cut)
	}
	st.WaitLog(t, `"msg":"request body cut`, 10*time.Second)
	if !strings.Contains(st.Logs(), `"path":"/v2/slow/app/blobs/uploads/`) {
		t.Errorf("the cut is not logged with the upload's path:\n%s", st.Logs())
	}

	// Resume the way the distribution spec says: ask where the upload
	// stands, send the rest from there, then close it with the digest.
	req, _ := http.NewRequest(http.MethodGet, loc, nil)
	status := attempt(req)
	if status.status != http.StatusNoContent {
		t.Fatalf("upload status after the cut: %s, want 204", status)
	}
	if got, want := status.header.Get("Range"), fmt.Sprintf("0-%d", sentBeforeStall-1); got != want {
		t.Fatalf("upload has Range %q after the cut, want %q: what arrived before the stall must be kept", got, want)
	}
	loc = absolute(st.URL, status.header.Get("Location"))
	rest := data[sentBeforeStall:]
	if res := patch(t, loc, bytes.NewReader(rest), sentBeforeStall, int64(len(rest))); res.status != http.StatusAccepted {
		t.Fatalf("resuming PATCH: %s, want 202", res)
	} else {
		loc = absolute(st.URL, res.header.Get("Location"))
	}
	if code := finishUpload(t, loc, dgst, http.NoBody, 0); code != http.StatusCreated {
		t.Fatalf("closing the resumed upload: %d, want 201", code)
	}
	resp, err := http.Get(st.URL + "/v2/slow/app/blobs/" + dgst)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("resumed blob: %d, %d bytes; want 200 and the %d bytes pushed", resp.StatusCode, len(got), len(data))
	}
}

// TestSlowSteadyUploadIsNotCut: a layer over a slow link (a little every
// quarter of the idle timeout, for three times the idle timeout) goes
// through.
func TestSlowSteadyUploadIsNotCut(t *testing.T) {
	st := stackrun.Start(t, bodyIdleEnv)
	data, dgst := randomBlob(12 << 10)
	loc := startUpload(t, st.URL, "slow/app")
	start := time.Now()
	body := &trickleBody{data: data, chunk: 1 << 10, gap: 250 * time.Millisecond}
	res := patch(t, loc, body, 0, -1)
	if res.status != http.StatusAccepted {
		t.Fatalf("slow steady PATCH: %s, want 202", res)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("the upload took %s, not longer than the idle timeout: the test proves nothing", took)
	}
	if code := finishUpload(t, absolute(st.URL, res.header.Get("Location")), dgst, http.NoBody, 0); code != http.StatusCreated {
		t.Fatalf("closing the slow upload: %d, want 201", code)
	}
	if strings.Contains(st.Logs(), "request body cut") {
		t.Error("a steady upload was logged as cut")
	}
}

// TestStalledTokenPOSTIsCut: the OAuth2 POST of the oidc token endpoint is
// a request body like any other; stalled, it is cut, and the stack goes on
// serving.
func TestStalledTokenPOSTIsCut(t *testing.T) {
	s := newOIDCSetup(t, "bodyidle")
	st := s.start(t, bodyIdleEnv)
	form := "grant_type=password&service=registry-stack&username=alice&password=alice-pass"
	req, err := http.NewRequest(http.MethodPost, st.URL+"/auth/token", stalledBody(t, []byte(form)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(form)) + 64 // the rest never comes
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res := attempt(req)
	if res.err == nil && (res.status < 400 || res.status >= 500) {
		t.Fatalf("stalled token POST answered %s; want it cut (a 4xx or a closed connection)", res)
	}
	st.WaitLog(t, `"msg":"request body cut`, 10*time.Second)
	if !strings.Contains(st.Logs(), `"path":"/auth/token"`) {
		t.Errorf("the cut is not logged with the token path:\n%s", st.Logs())
	}
	st.WaitLog(t, `"cut":"request body idle for 1s`, 10*time.Second) // the access log line says why
	resp, err := http.Get(st.URL + "/auth/token?service=registry-stack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous token after the cut: %d, want 200", resp.StatusCode)
	}
}
