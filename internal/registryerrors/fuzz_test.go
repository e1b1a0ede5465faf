package registryerrors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzErrorAnswers feeds the guard arbitrary error answers, as a registry
// behind it might write them: it must never panic, keep 4xx as 4xx, and
// never pass a server error's body on.
func FuzzErrorAnswers(f *testing.F) {
	f.Add(500, `{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":"filesystem: open /srv/x: no space left on device"}]}`, "PUT", "/v2/a/manifests/v1")
	f.Add(500, `{"errors":[{"code":"UNKNOWN","detail":"invalid checksum digest length"}]}{"errors":[]}`, "PUT", "/v2/a/manifests/v1")
	f.Add(404, `{"errors":[{"code":"MANIFEST_UNKNOWN","detail":{"Path":"/docker/registry/v2/x"}}]}`, "GET", "/v2/a/manifests/v1")
	f.Add(400, `not json`, "PATCH", "/v2/a/blobs/uploads/x")
	f.Add(503, `{"errors":[{"code":"UNAVAILABLE","detail":["a",1,null]}]}`, "GET", "/v2/")
	f.Fuzz(func(t *testing.T, status int, body, method, path string) {
		if status < 400 || status > 599 || !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://x"+path, nil)
		if err != nil {
			return
		}
		h := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}), Options{})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Code
		switch {
		case got < 400 || got > 599:
			t.Fatalf("status %d became %d", status, got)
		case status < 500 && got >= 500:
			t.Fatalf("client error %d became %d", status, got)
		case status >= 500 && len(body) > 16 && strings.Contains(rec.Body.String(), body):
			t.Fatalf("server error body passed on: %q", rec.Body.String())
		}
	})
}
