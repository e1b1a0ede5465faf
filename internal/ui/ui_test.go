package ui

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func testAssets() fstest.MapFS {
	return fstest.MapFS{
		"index.html":     {Data: []byte(`<!doctype html><html data-theme="{{THEME}}"><head><title>{{TITLE}}</title><link rel="stylesheet" href="{{ASSETS}}/css/app.css">` + "\n{{PRELOAD}}\n" + `<script type="module" src="{{ASSETS}}/js/main.js"></script></head><body></body></html>`)},
		"js/main.js":     {Data: []byte(strings.Repeat("import { a } from './lib/a.js';\nconsole.log(a);\n", 20))},
		"js/lib/a.js":    {Data: []byte("export const a = 1;\n")},
		"css/app.css":    {Data: []byte(strings.Repeat("body { color: red; }\n", 30))},
		"favicon.svg":    {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
		"img/shot.png":   {Data: []byte("\x89PNG\r\n\x1a\n")},
		"data/info.json": {Data: []byte(`{"a":1}`)},
	}
}

func newTestHandler(t *testing.T, o Options) http.Handler {
	t.Helper()
	if o.Assets == nil {
		o.Assets = testAssets()
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var assetPrefix = regexp.MustCompile(`/static/v-[0-9a-f]{12}`)

func versionPrefix(t *testing.T, h http.Handler) string {
	t.Helper()
	p := assetPrefix.FindString(body(t, get(t, h, "GET", "/", nil)))
	if p == "" {
		t.Fatal("index.html references no versioned asset prefix")
	}
	return p
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := newTestHandler(t, Options{})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/r/team/app:v1"}, {"GET", "/static/js/main.js"}, {"GET", ConfigPath},
		{"GET", "/favicon.ico"}, {"GET", "/static/nope.js"}, {"POST", "/"}, {"HEAD", "/"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp := get(t, h, tc.method, tc.path, nil)
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") {
				t.Errorf("CSP %q allows inline code or other hosts", csp)
			}
			want := map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	h := newTestHandler(t, Options{})
	prefix := versionPrefix(t, h)
	tests := []struct {
		path, status, contentType, cache string
	}{
		{"/", "200", "text/html; charset=utf-8", "no-cache"},
		{"/r/team/app", "200", "text/html; charset=utf-8", "no-cache"},
		{"/r/my.repo/x.y:1.2.3", "200", "text/html; charset=utf-8", "no-cache"},
		{"/r/team/app@sha256:" + strings.Repeat("a", 64), "200", "text/html; charset=utf-8", "no-cache"},
		{"/some/deep/page", "200", "text/html; charset=utf-8", "no-cache"},
		{"/static/js/main.js", "200", "text/javascript; charset=utf-8", "no-cache"},
		{prefix + "/js/main.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{prefix + "/js/lib/a.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/static/v-000000000000/js/main.js", "200", "text/javascript; charset=utf-8", "no-cache"},
		{prefix + "/css/app.css", "200", "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/static/favicon.svg", "200", "image/svg+xml", "no-cache"},
		{"/static/img/shot.png", "200", "image/png", "no-cache"},
		{"/static/data/info.json", "200", "application/json", "no-cache"},
		{ConfigPath, "200", "application/json", "no-store"},
		{"/favicon.ico", "404", "", ""},
		{"/static/missing.js", "404", "", ""},
		{"/static/", "404", "", ""},
		{"/static/index.html", "404", "", ""},
		{prefix + "/../../etc/passwd", "404", "", ""},
		{"/robots.txt", "404", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, h, "GET", tc.path, nil)
			if got := resp.Status[:3]; got != tc.status {
				t.Fatalf("status %s, want %s", resp.Status, tc.status)
			}
			if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.contentType)
			}
			if tc.cache != "" && resp.Header.Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control %q, want %q", resp.Header.Get("Cache-Control"), tc.cache)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	h := newTestHandler(t, Options{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		resp := get(t, h, m, "/", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s / = %d (Allow %q), want 405 with Allow", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	resp := get(t, h, "HEAD", "/static/js/main.js", nil)
	if resp.StatusCode != 200 || body(t, resp) != "" || resp.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: status %d, want 200 with Content-Length and no body", resp.StatusCode)
	}
}

func TestIndexPlaceholders(t *testing.T) {
	h := newTestHandler(t, Options{Title: `Team <"registry">`, Theme: "dark"})
	page := body(t, get(t, h, "GET", "/r/x", nil))
	prefix := versionPrefix(t, h)
	for _, want := range []string{
		`<title>Team &lt;&#34;registry&#34;&gt;</title>`,
		`data-theme="dark"`,
		`<link rel="modulepreload" href="` + prefix + `/js/lib/a.js">`,
		`<script type="module" src="` + prefix + `/js/main.js">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "{{") {
		t.Errorf("unfilled placeholder:\n%s", page)
	}
}

func TestUnknownPlaceholderIsAnError(t *testing.T) {
	fs := testAssets()
	fs["index.html"] = &fstest.MapFile{Data: []byte("<p>{{NOPE}}</p>")}
	if _, err := New(Options{Assets: fs}); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("New = %v, want a placeholder error", err)
	}
}

func TestVersionFollowsContent(t *testing.T) {
	a := versionPrefix(t, newTestHandler(t, Options{}))
	changed := testAssets()
	changed["js/lib/a.js"] = &fstest.MapFile{Data: []byte("export const a = 2;\n")}
	b := versionPrefix(t, newTestHandler(t, Options{Assets: changed}))
	if a == b {
		t.Fatalf("asset prefix %s did not change with the content", a)
	}
	if c := versionPrefix(t, newTestHandler(t, Options{Title: "other"})); c != a {
		t.Fatalf("asset prefix changed with a setting: %s vs %s", a, c)
	}
}

func TestGzip(t *testing.T) {
	h := newTestHandler(t, Options{})
	plain := body(t, get(t, h, "GET", "/static/js/main.js", nil))
	tests := []struct {
		acceptEncoding string
		gzipped        bool
	}{
		{"", false},
		{"gzip", true},
		{"br, gzip, deflate", true},
		{"gzip;q=0", false},
		{"*", true},
		{"*;q=0, identity", false},
		{"deflate", false},
	}
	for _, tc := range tests {
		t.Run(tc.acceptEncoding, func(t *testing.T) {
			resp := get(t, h, "GET", "/static/js/main.js", map[string]string{"Accept-Encoding": tc.acceptEncoding})
			if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("Vary %q, want Accept-Encoding", v)
			}
			raw := body(t, resp)
			if !tc.gzipped {
				if resp.Header.Get("Content-Encoding") != "" || raw != plain {
					t.Fatalf("want identity, got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
				}
				return
			}
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
			}
			if len(raw) >= len(plain) {
				t.Errorf("gzip body %d bytes, identity %d", len(raw), len(plain))
			}
			zr, err := gzip.NewReader(bytes.NewReader([]byte(raw)))
			if err != nil {
				t.Fatal(err)
			}
			unzipped, _ := io.ReadAll(zr)
			if string(unzipped) != plain {
				t.Fatal("gzip body does not decompress to the file")
			}
		})
	}
	// Incompressible files are never gzipped and carry no Vary.
	resp := get(t, h, "GET", "/static/img/shot.png", map[string]string{"Accept-Encoding": "gzip"})
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("png served with Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
}

func TestETagRevalidation(t *testing.T) {
	h := newTestHandler(t, Options{})
	for _, path := range []string{"/", "/static/js/main.js", ConfigPath} {
		for _, enc := range []string{"", "gzip"} {
			t.Run(path+" "+enc, func(t *testing.T) {
				first := get(t, h, "GET", path, map[string]string{"Accept-Encoding": enc})
				etag := first.Header.Get("ETag")
				if !regexp.MustCompile(`^"[0-9a-f]{32}(-gz)?"$`).MatchString(etag) {
					t.Fatalf("ETag %q is not a quoted content hash", etag)
				}
				again := get(t, h, "GET", path, map[string]string{"Accept-Encoding": enc, "If-None-Match": etag})
				if again.StatusCode != http.StatusNotModified || body(t, again) != "" {
					t.Fatalf("If-None-Match %s: status %d, want 304 without body", etag, again.StatusCode)
				}
				if again.Header.Get("ETag") != etag {
					t.Errorf("304 ETag %q, want %q", again.Header.Get("ETag"), etag)
				}
				stale := get(t, h, "GET", path, map[string]string{"Accept-Encoding": enc, "If-None-Match": `"0123", W/"4567"`})
				if stale.StatusCode != http.StatusOK {
					t.Fatalf("stale ETag: status %d, want 200", stale.StatusCode)
				}
			})
		}
	}
}

func TestConfigJSON(t *testing.T) {
	h := newTestHandler(t, Options{
		Title: "Lab registry", PullHost: "registry.example.com", DeleteEnabled: true, AuthMode: "keycloak",
		TokenPath: "/auth/realms/lab/protocol/docker-v2/auth", Service: "registry", Theme: "light", Version: "1.2.3",
	})
	resp := get(t, h, "GET", ConfigPath, nil)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body(t, resp)), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"title": "Lab registry", "pullHost": "registry.example.com", "deleteEnabled": true, "authMode": "keycloak",
		"tokenPath": "/auth/realms/lab/protocol/docker-v2/auth", "service": "registry", "theme": "light", "version": "1.2.3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("config.json has %d keys, want %d: %v", len(got), len(want), got)
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	h := newTestHandler(t, Options{})
	var got map[string]any
	_ = json.Unmarshal([]byte(body(t, get(t, h, "GET", ConfigPath, nil))), &got)
	if got["authMode"] != "none" || got["theme"] != "auto" || got["title"] != "registry-stack" || got["deleteEnabled"] != false {
		t.Errorf("defaults: %v", got)
	}
	for _, o := range []Options{{AuthMode: "ldap"}, {AuthMode: "keycloak"}} {
		o.Assets = testAssets()
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without assets succeeded")
	}
}
