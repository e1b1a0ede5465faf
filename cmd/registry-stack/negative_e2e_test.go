package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
)

// negTarget is one running stack the negative suite is sent to.
type negTarget struct {
	mode string
	st   *stackrun.Stack
	// token grants everything on the suite's repositories and the catalog
	// ("" in auth mode none), so malformed requests reach the handlers.
	token     string
	tokenPath string // the mode's token endpoint ("" in mode none)
	service   string // the mode's token service ("" in mode none)
	user      string
	password  string
	// fixtures: digests pushed to negRepo before the suite runs.
	blob, config, manifest string
}

// The suite works on these repositories only, so one token covers it.
const (
	negRepo  = "neg/app"
	negOther = "neg/other"
)

var negScopes = []string{
	"repository:" + negRepo + ":pull,push,delete",
	"repository:" + negOther + ":pull,push,delete",
	"registry:catalog:*",
}

// TestNegativeInput sends every malformed request of negativeCases to a
// stack in each auth mode. Each must get its specific 4xx (never a 5xx),
// and no answer may name the data dir or carry a Go stack trace.
func TestNegativeInput(t *testing.T) {
	modes := []struct {
		name  string
		start func(t *testing.T) *negTarget
	}{
		{"none", func(t *testing.T) *negTarget {
			return &negTarget{st: stackrun.Start(t, nil)}
		}},
		{"keycloak", func(t *testing.T) *negTarget {
			realm, st := keycloakStack(t, "rs-neg")
			tok := realm.StackToken(t, st.URL, strings.Join(negScopes, " "))
			return &negTarget{st: st, token: tok, tokenPath: realm.TokenPath(), service: realm.Service, user: realm.User, password: realm.Password}
		}},
		{"oidc", func(t *testing.T) *negTarget {
			s := newOIDCSetup(t, "rs-neg-oidc")
			st := s.start(t, nil)
			// carol holds registry-admin: every action on every repository.
			tok := fetchToken(t, st, "carol", "carol-password", negScopes...)
			return &negTarget{st: st, token: tok, tokenPath: "/auth/token", service: "registry-stack", user: "carol", password: "carol-password"}
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			tg := m.start(t)
			tg.mode = m.name
			tg.pushFixtures(t)
			perRoute := map[string]int{}
			for _, c := range negativeCases() {
				if c.authOnly && tg.mode == "none" {
					continue
				}
				perRoute[c.route]++
				t.Run(c.route+"/"+c.name, func(t *testing.T) { tg.run(t, c) })
			}
			if st, _ := tg.do(t, negCase{method: "GET", path: "/v2/"}); st != http.StatusOK {
				t.Errorf("after the suite /v2/ = %d, want 200", st)
			}
			routes := make([]string, 0, len(perRoute))
			total := 0
			for r, n := range perRoute {
				routes = append(routes, r)
				total += n
			}
			sort.Strings(routes)
			for _, r := range routes {
				testartifacts.Figure(t, fmt.Sprintf("negative cases %s %s", m.name, r), fmt.Sprint(perRoute[r]))
			}
			testartifacts.Figure(t, "negative cases "+m.name+" total", fmt.Sprint(total))
		})
	}
}

// stackTrace matches what a Go panic or stack dump prints; internalError
// what Go's own errors say about the server's types and storage.
var (
	stackTrace    = regexp.MustCompile(`goroutine \d+ \[|panic: |\.go:\d+|runtime/debug`)
	internalError = regexp.MustCompile(`Go struct|Go value of type|strconv\.|/docker/registry/v2/|filesystem: `)
)

func (tg *negTarget) run(t *testing.T, c negCase) {
	want := c.want
	if tg.mode != "none" && c.authed != nil {
		want = *c.authed
	}
	if w, ok := c.modes[tg.mode]; ok {
		want = w
	}
	status, body := tg.do(t, c)
	code := firstCode(body)
	if status >= 500 {
		t.Errorf("%s: %s %.120s: server error %d: %.400s", c.name, c.method, c.path, status, body)
	}
	if status != want.status || (want.code != "" && code != want.code) {
		t.Errorf("%s: %s %.120s = %d %s, want %d %s; answer %.400s", c.name, c.method, c.path, status, code, want.status, want.code, body)
	}
	if strings.Contains(body, tg.st.DataDir) {
		t.Errorf("answer names the data dir %s: %.300s", tg.st.DataDir, body)
	}
	if stackTrace.MatchString(body) {
		t.Errorf("answer carries a stack trace: %.300s", body)
	}
	if m := internalError.FindString(body); m != "" {
		t.Errorf("answer carries an internal error string (%q): %.300s", m, body)
	}
}

// do sends c and returns the status and the answer (headers and body as
// text, for the path and stack-trace checks).
func (tg *negTarget) do(t *testing.T, c negCase) (int, string) {
	t.Helper()
	u := tg.expand(t, c.path)
	if !strings.HasPrefix(u, "http") {
		u = tg.st.URL + u
	}
	header := http.Header{}
	for k, v := range c.header {
		header.Set(k, tg.expand(t, v))
	}
	switch c.auth {
	case authFull:
		if tg.token != "" {
			header.Set("Authorization", "Bearer "+tg.token)
		}
	case authBad:
		header.Set("Authorization", "Bearer not.a.token")
	case authBasic:
		if tg.user != "" {
			req, _ := http.NewRequest("GET", "/", nil)
			req.SetBasicAuth(tg.user, tg.password)
			header.Set("Authorization", req.Header.Get("Authorization"))
		}
	}
	var resp *http.Response
	if c.rawBody != "" {
		resp = sendRaw(t, c.method, u, header, c.rawBody)
	} else {
		body := io.Reader(strings.NewReader(tg.expand(t, c.body)))
		if c.bodySize > 0 {
			body = bytes.NewReader(bytes.Repeat([]byte{'x'}, c.bodySize))
		}
		req, err := http.NewRequest(c.method, u, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err = client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var all strings.Builder
	_ = resp.Header.Write(&all)
	all.WriteString("\r\n")
	all.Write(b)
	return resp.StatusCode, all.String()
}

// sendRaw writes the request by hand: its body is sent as chunked transfer
// encoding exactly as given, which may be malformed on purpose.
func sendRaw(t *testing.T, method, u string, header http.Header, chunked string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n", method, req.URL.RequestURI(), req.URL.Host)
	_ = header.Write(&head)
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()+chunked); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// expand fills the placeholders of a case: {upload} a fresh upload's
// Location, {uploadbare} the same without its state, {blob}, {config},
// {manifest} the fixtures' digests, {token} the token endpoint, {service}
// its service.
func (tg *negTarget) expand(t *testing.T, s string) string {
	if strings.Contains(s, "{upload}") {
		s = strings.ReplaceAll(s, "{upload}", tg.startUpload(t))
	}
	if strings.Contains(s, "{uploadbare}") {
		loc, _, _ := strings.Cut(tg.startUpload(t), "?")
		s = strings.ReplaceAll(s, "{uploadbare}", loc)
	}
	tokenPath := tg.tokenPath
	if tokenPath == "" {
		tokenPath = "/auth/token"
	}
	return strings.NewReplacer("{blob}", tg.blob, "{config}", tg.config, "{manifest}", tg.manifest, "{token}", tokenPath, "{service}", tg.service).Replace(s)
}

// request sends a well-formed request with the suite's token.
func (tg *negTarget) request(t *testing.T, method, u, contentType string, body []byte) *http.Response {
	t.Helper()
	if !strings.HasPrefix(u, "http") {
		u = tg.st.URL + u
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tg.token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (tg *negTarget) startUpload(t *testing.T) string {
	t.Helper()
	resp := tg.request(t, http.MethodPost, "/v2/"+negRepo+"/blobs/uploads/", "", nil)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = tg.st.URL + loc
	}
	return loc
}

func (tg *negTarget) pushBlob(t *testing.T, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	resp := tg.request(t, http.MethodPut, tg.startUpload(t)+"&digest="+dgst, "application/octet-stream", data)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push blob: %d", resp.StatusCode)
	}
	return dgst
}

// pushFixtures pushes one small image to negRepo: the blob, config and
// manifest the cases refer to.
func (tg *negTarget) pushFixtures(t *testing.T) {
	t.Helper()
	layer, config := []byte("0123456789 layer of the negative suite"), []byte(`{"architecture":"amd64","os":"linux"}`)
	tg.blob, tg.config = tg.pushBlob(t, layer), tg.pushBlob(t, config)
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     ociManifestType,
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": tg.config, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": tg.blob, "size": len(layer)}},
	})
	sum := sha256.Sum256(m)
	tg.manifest = "sha256:" + hex.EncodeToString(sum[:])
	resp := tg.request(t, http.MethodPut, "/v2/"+negRepo+"/manifests/v1", ociManifestType, m)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push manifest: %d", resp.StatusCode)
	}
}

// firstCode is the first registry error code in an answer's body.
func firstCode(answer string) string {
	_, body, ok := strings.Cut(answer, "\r\n\r\n")
	if !ok {
		body = answer
	}
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	_ = json.NewDecoder(strings.NewReader(body)).Decode(&e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}
