package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"

	"github.com/registry-stack/registry-stack/internal/config"
)

// testConfig returns a default config whose data dir is a fresh temp dir
// and whose distribution section is read from yamlText (may be empty), the
// way a user's config file would deliver it.
func testConfig(t *testing.T, yamlText string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if yamlText != "" {
		if err := cfg.LoadYAML("test.yaml", []byte(yamlText)); err != nil {
			t.Fatalf("LoadYAML: %v", err)
		}
	}
	return &cfg
}

func TestDistributionConfigDefaults(t *testing.T) {
	tests := []struct {
		name        string
		delete      bool
		secret      string
		opts        Options
		wantAuth    configuration.Auth
		wantHost    string
		wantMetrics bool
	}{
		{name: "delete enabled", delete: true, secret: "s3cr3t"},
		{name: "delete disabled", delete: false, secret: "other"},
		{name: "host", delete: true, opts: Options{Host: "https://reg.example.com"}, wantHost: "https://reg.example.com"},
		{
			name:   "access controller",
			delete: true,
			opts: Options{
				AccessController:       "token",
				AccessControllerParams: map[string]any{"realm": "https://kc.example/auth", "service": "registry"},
			},
			wantAuth: configuration.Auth{"token": configuration.Parameters{"realm": "https://kc.example/auth", "service": "registry"}},
		},
		{name: "metrics", delete: true, opts: Options{Metrics: true}, wantMetrics: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			cfg.Storage.Delete = tt.delete
			cfg.HTTPSecret = tt.secret
			d, err := DistributionConfig(cfg, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			wantStorage := configuration.Storage{
				"filesystem": configuration.Parameters{"rootdirectory": filepath.Join(cfg.DataDir, "registry")},
				"cache":      configuration.Parameters{"blobdescriptor": "inmemory"},
				"delete":     configuration.Parameters{"enabled": tt.delete},
				"maintenance": configuration.Parameters{"uploadpurging": map[any]any{
					"enabled": true, "age": "24h0m0s", "interval": "1h0m0s", "dryrun": false,
				}},
			}
			if !reflect.DeepEqual(d.Storage, wantStorage) {
				t.Errorf("storage = %#v, want %#v", d.Storage, wantStorage)
			}
			if got := d.Storage.Type(); got != "filesystem" {
				t.Errorf("storage type = %q, want filesystem", got)
			}
			if d.Catalog.MaxEntries != 1000 {
				t.Errorf("catalog.maxentries = %d, want 1000", d.Catalog.MaxEntries)
			}
			if d.Tags.MaxTags != 1000 {
				t.Errorf("tags.maxtags = %d, want 1000", d.Tags.MaxTags)
			}
			if d.HTTP.Secret != tt.secret {
				t.Errorf("http.secret = %q, want %q", d.HTTP.Secret, tt.secret)
			}
			if d.HTTP.Host != tt.wantHost {
				t.Errorf("http.host = %q, want %q", d.HTTP.Host, tt.wantHost)
			}
			if !reflect.DeepEqual(d.Auth, tt.wantAuth) {
				t.Errorf("auth = %#v, want %#v", d.Auth, tt.wantAuth)
			}
			if tt.wantAuth == nil && d.Auth.Type() != "" {
				t.Errorf("auth section present without an access controller: %#v", d.Auth)
			}
			if d.HTTP.Debug.Prometheus.Enabled != tt.wantMetrics {
				t.Errorf("prometheus enabled = %v, want %v", d.HTTP.Debug.Prometheus.Enabled, tt.wantMetrics)
			}
			if !d.Log.AccessLog.Disabled {
				t.Error("distribution's own access log is enabled; the stack logs requests itself")
			}
			if got := d.Validation.Manifests.URLs.Allow; !reflect.DeepEqual(got, []string{DefaultLayerURLsAllow}) {
				t.Errorf("validation.manifests.urls.allow = %q, want the default %q", got, DefaultLayerURLsAllow)
			}
		})
	}
}

func TestDistributionConfigPassthrough(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		delete bool
		check  func(t *testing.T, d *configuration.Configuration)
	}{
		{
			name:   "inmemory storage replaces the filesystem default",
			yaml:   "distribution:\n  storage:\n    inmemory: {}\n",
			delete: true,
			check: func(t *testing.T, d *configuration.Configuration) {
				want := configuration.Storage{
					"inmemory": configuration.Parameters{},
					"delete":   configuration.Parameters{"enabled": true},
					// storage.upload_purge_* apply to a passed-through storage too.
					"maintenance": configuration.Parameters{"uploadpurging": map[any]any{
						"enabled": true, "age": "24h0m0s", "interval": "1h0m0s", "dryrun": false,
					}},
				}
				if !reflect.DeepEqual(d.Storage, want) {
					t.Errorf("storage = %#v, want %#v", d.Storage, want)
				}
			},
		},
		{
			name: "s3 parameters arrive unchanged",
			yaml: `distribution:
  storage:
    s3:
      region: eu-central-1
      bucket: images
      regionendpoint: http://minio:9000
      secure: false
      chunksize: 10485760
    redirect:
      disable: true
`,
			delete: false,
			check: func(t *testing.T, d *configuration.Configuration) {
				if got := d.Storage.Type(); got != "s3" {
					t.Fatalf("storage type = %q, want s3", got)
				}
				wantParams := configuration.Parameters{
					"region": "eu-central-1", "bucket": "images", "regionendpoint": "http://minio:9000",
					"secure": false, "chunksize": 10485760,
				}
				if !reflect.DeepEqual(d.Storage.Parameters(), wantParams) {
					t.Errorf("s3 parameters = %#v, want %#v", d.Storage.Parameters(), wantParams)
				}
				if !reflect.DeepEqual(d.Storage["redirect"], configuration.Parameters{"disable": true}) {
					t.Errorf("redirect = %#v", d.Storage["redirect"])
				}
				if !reflect.DeepEqual(d.Storage["delete"], configuration.Parameters{"enabled": false}) {
					t.Errorf("delete = %#v, want enabled=false from storage.delete", d.Storage["delete"])
				}
				for _, k := range []string{"filesystem", "cache"} {
					if _, ok := d.Storage[k]; ok {
						t.Errorf("default %q leaked into a passthrough storage section", k)
					}
				}
			},
		},
		{
			name:   "passthrough delete wins over storage.delete",
			yaml:   "distribution:\n  storage:\n    inmemory: {}\n    delete:\n      enabled: false\n",
			delete: true,
			check: func(t *testing.T, d *configuration.Configuration) {
				if !reflect.DeepEqual(d.Storage["delete"], configuration.Parameters{"enabled": false}) {
					t.Errorf("delete = %#v, want the passthrough's enabled=false", d.Storage["delete"])
				}
			},
		},
		{
			name: "notifications",
			yaml: `distribution:
  notifications:
    events:
      includereferences: true
    endpoints:
      - name: hook
        url: https://hooks.example/registry
        headers:
          Authorization: [Bearer abc]
        timeout: 2s
        threshold: 5
        backoff: 1m
        ignoredmediatypes: [application/octet-stream]
`,
			delete: true,
			check: func(t *testing.T, d *configuration.Configuration) {
				want := configuration.Notifications{
					EventConfig: configuration.Events{IncludeReferences: true},
					Endpoints: []configuration.Endpoint{{
						Name:              "hook",
						URL:               "https://hooks.example/registry",
						Headers:           http.Header{"Authorization": {"Bearer abc"}},
						Timeout:           2 * time.Second,
						Threshold:         5,
						Backoff:           time.Minute,
						IgnoredMediaTypes: []string{"application/octet-stream"},
					}},
				}
				if !reflect.DeepEqual(d.Notifications, want) {
					t.Errorf("notifications = %#v, want %#v", d.Notifications, want)
				}
				// The default storage is still applied.
				if d.Storage.Type() != "filesystem" {
					t.Errorf("storage type = %q, want filesystem default", d.Storage.Type())
				}
			},
		},
		{
			name:   "redis",
			yaml:   "distribution:\n  redis:\n    addrs: [redis:6379]\n    db: 2\n    password: pw\n",
			delete: true,
			check: func(t *testing.T, d *configuration.Configuration) {
				o := d.Redis.Options
				if !reflect.DeepEqual(o.Addrs, []string{"redis:6379"}) || o.DB != 2 || o.Password != "pw" {
					t.Errorf("redis options = %+v", o)
				}
			},
		},
		{
			name:   "validation",
			yaml:   "distribution:\n  validation:\n    disabled: true\n    manifests:\n      urls:\n        allow: ['^https?://']\n        deny: ['^https?://evil/']\n",
			delete: true,
			check: func(t *testing.T, d *configuration.Configuration) {
				want := configuration.Validation{
					Disabled: true,
					Manifests: configuration.ValidationManifests{
						URLs: configuration.URLs{Allow: []string{"^https?://"}, Deny: []string{"^https?://evil/"}},
					},
				}
				if !reflect.DeepEqual(d.Validation, want) {
					t.Errorf("validation = %#v, want %#v", d.Validation, want)
				}
			},
		},
		{
			name:   "catalog and tags limits",
			yaml:   "distribution:\n  catalog:\n    maxentries: 50\n  tags:\n    maxtags: 7\n",
			delete: true,
			check: func(t *testing.T, d *configuration.Configuration) {
				if d.Catalog.MaxEntries != 50 || d.Tags.MaxTags != 7 {
					t.Errorf("catalog.maxentries = %d, tags.maxtags = %d; want 50, 7", d.Catalog.MaxEntries, d.Tags.MaxTags)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, tt.yaml)
			cfg.Storage.Delete = tt.delete
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			d, err := DistributionConfig(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, d)
		})
	}
}

func TestDistributionConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantKey string
		wantMsg []string // substrings of the message
	}{
		{"storage of the wrong type", "distribution:\n  storage: [filesystem]\n", "distribution.storage", []string{"cannot unmarshal"}},
		{"two storage drivers", "distribution:\n  storage:\n    inmemory: {}\n    filesystem: {rootdirectory: /x}\n", "distribution.storage", []string{"exactly one storage type"}},
		{"storage without a driver", "distribution:\n  storage:\n    delete: {enabled: true}\n", "distribution.storage", []string{"no storage driver"}},
		{"empty storage", "distribution:\n  storage: {}\n", "distribution.storage", []string{"no storage driver"}},
		{"unknown notifications key", "distribution:\n  notifications:\n    endpionts: []\n", "distribution.notifications", []string{"endpionts", "Notifications"}},
		{"bad notifications duration", "distribution:\n  notifications:\n    endpoints:\n      - name: a\n        url: http://x\n        timeout: soon\n", "distribution.notifications", []string{"time.Duration"}},
		{"redis scalar", "distribution:\n  redis: 5\n", "distribution.redis", []string{"Redis"}},
		{"unknown redis key", "distribution:\n  redis:\n    adress: redis:6379\n", "distribution.redis", []string{"adress"}},
		{"validation bool", "distribution:\n  validation:\n    disabled: maybe\n", "distribution.validation", []string{"bool"}},
		{"negative maxtags", "distribution:\n  tags:\n    maxtags: -1\n", "distribution.tags.maxtags", []string{"negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, tt.yaml)
			d, err := DistributionConfig(cfg, Options{})
			if err == nil {
				t.Fatalf("no error; storage = %#v", d.Storage)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Key != tt.wantKey {
				t.Errorf("key = %q, want %q (error: %v)", ce.Key, tt.wantKey, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantKey+": ") {
				t.Errorf("error %q does not start with %q", err, tt.wantKey)
			}
			if strings.Contains(err.Error(), "line ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line without re-encoded line numbers", err)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			// New reports the same error instead of building a registry.
			if _, err := New(context.Background(), cfg, Options{}); err == nil {
				t.Error("New accepted the bad configuration")
			}
		})
	}
}

// A storage section left empty in YAML ("storage:" with everything below
// commented out) decodes to nil. It passes config.Validate and must give a
// configuration error, not a panic.
func TestDistributionConfigNullStorage(t *testing.T) {
	cfg := testConfig(t, "distribution:\n  storage:\n  #  s3: {}\n")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var (
		d        *configuration.Configuration
		err      error
		panicked any
	)
	func() {
		defer func() { panicked = recover() }()
		d, err = DistributionConfig(cfg, Options{})
	}()
	if panicked != nil {
		t.Fatalf("DistributionConfig panics on a null distribution.storage section: %v", panicked)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "distribution.storage" {
		t.Fatalf("DistributionConfig = %v, %v; want a config error naming distribution.storage", d, err)
	}
}

type apiError struct {
	Errors []struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"errors"`
}

func newTestRegistry(t *testing.T, cfg *config.Config) *Registry {
	t.Helper()
	if cfg.HTTPSecret == "" {
		cfg.HTTPSecret = strings.Repeat("s", 32)
	}
	r, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r
}

func TestServeHTTP(t *testing.T) {
	r := newTestRegistry(t, testConfig(t, ""))
	tests := []struct {
		method, path string
		status       int
		code         string // first error code; empty for success
		detail       string // substring of the error detail
	}{
		{"GET", "/v2/", http.StatusOK, "", ""},
		{"HEAD", "/v2/", http.StatusOK, "", ""},
		{"GET", "/v2/_catalog", http.StatusOK, "", ""},
		// Malformed names, tags and digests that no route matches.
		{"GET", "/v2/UPPER/manifests/latest", http.StatusBadRequest, "NAME_INVALID", `"UPPER"`},
		{"GET", "/v2/a//b/manifests/latest", http.StatusBadRequest, "NAME_INVALID", `"a//b"`},
		{"GET", "/v2/-lead/tags/list", http.StatusBadRequest, "NAME_INVALID", `"-lead"`},
		{"PUT", "/v2/bad_/blobs/uploads/", http.StatusBadRequest, "NAME_INVALID", `"bad_"`},
		{"GET", "/v2/a/manifests/bad!tag", http.StatusBadRequest, "TAG_INVALID", "malformed tag or digest"},
		{"GET", "/v2/a/manifests/", http.StatusBadRequest, "TAG_INVALID", "malformed tag or digest"},
		{"GET", "/v2/a/blobs/notadigest", http.StatusBadRequest, "DIGEST_INVALID", "malformed digest"},
		{"GET", "/v2/a/blobs/sha256:zz", http.StatusBadRequest, "DIGEST_INVALID", ""},
		// Well-formed requests for things that do not exist.
		{"GET", "/v2/a/manifests/latest", http.StatusNotFound, "MANIFEST_UNKNOWN", ""},
		{"GET", "/v2/a/tags/list", http.StatusNotFound, "NAME_UNKNOWN", ""},
		{"GET", "/v2/a/blobs/sha256:" + strings.Repeat("0", 64), http.StatusNotFound, "BLOB_UNKNOWN", ""},
		// Endpoints that do not exist at all.
		{"GET", "/v2/nope", http.StatusNotFound, "UNSUPPORTED", ""},
		{"GET", "/v2/a/tags/foo", http.StatusNotFound, "UNSUPPORTED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
				t.Errorf("Docker-Distribution-API-Version = %q", got)
			}
			if tt.method == "HEAD" {
				return
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			if tt.code == "" {
				if !json.Valid(w.Body.Bytes()) {
					t.Errorf("body is not JSON: %s", w.Body)
				}
				return
			}
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if len(e.Errors) == 0 || e.Errors[0].Code != tt.code {
				t.Fatalf("errors = %+v, want code %s", e.Errors, tt.code)
			}
			if e.Errors[0].Message == "" {
				t.Error("error has no message")
			}
			if !strings.Contains(string(e.Errors[0].Detail), tt.detail) {
				t.Errorf("detail %s does not mention %s", e.Errors[0].Detail, tt.detail)
			}
		})
	}
}

func TestCheckStorage(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares dataDir and returns the storage section's
		// rootdirectory, or "" for the default.
		setup   func(t *testing.T, dataDir string) string
		wantErr bool
	}{
		{name: "fresh data dir", setup: func(*testing.T, string) string { return "" }},
		{name: "existing root", setup: func(t *testing.T, dataDir string) string {
			mkdir(t, filepath.Join(dataDir, "registry", "docker"))
			return ""
		}},
		{name: "parent of root is a regular file", wantErr: true, setup: func(t *testing.T, dataDir string) string {
			writeFile(t, filepath.Join(dataDir, "file"))
			return filepath.Join(dataDir, "file", "registry")
		}},
		{
			name: "root is a regular file", wantErr: true,
			setup: func(t *testing.T, dataDir string) string {
				writeFile(t, filepath.Join(dataDir, "registry"))
				return ""
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			if root := tt.setup(t, cfg.DataDir); root != "" {
				cfg.Distribution = map[string]any{"storage": map[string]any{"filesystem": map[string]any{"rootdirectory": root}}}
			}
			r := newTestRegistry(t, cfg)
			err := r.CheckStorage(context.Background())
			switch {
			case tt.wantErr && err == nil:
				t.Fatal("CheckStorage passed")
			case !tt.wantErr && err != nil:
				t.Fatalf("CheckStorage: %v", err)
			case err != nil && !strings.Contains(err.Error(), "filesystem"):
				t.Errorf("error %q does not name the driver", err)
			}
		})
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o750); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The inmemory driver is accepted through the passthrough and the API works
// on it end to end (upload a blob, read it back).
func TestInmemoryStorageRoundTrip(t *testing.T) {
	cfg := testConfig(t, "distribution:\n  storage:\n    inmemory: {}\n")
	r := newTestRegistry(t, cfg)
	if err := r.CheckStorage(context.Background()); err != nil {
		t.Fatalf("CheckStorage: %v", err)
	}
	const blob = "hello"
	const dgst = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/v2/lib/x/blobs/uploads/", nil))
	loc := w.Header().Get("Location")
	if w.Code != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %d %s (Location %q)", w.Code, w.Body, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("digest", dgst)
	u.RawQuery = q.Encode()
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("PUT", u.RequestURI(), strings.NewReader(blob)))
	if w.Code != http.StatusCreated {
		t.Fatalf("finish upload: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/v2/lib/x/blobs/"+dgst, nil))
	if w.Code != http.StatusOK || w.Body.String() != blob {
		t.Fatalf("GET blob: %d %q", w.Code, w.Body)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "registry")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("inmemory storage wrote to the data dir: %v", err)
	}
}

func TestEnsureHTTPSecret(t *testing.T) {
	t.Run("generated once and persisted", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "not", "yet", "there")
		s1, err := EnsureHTTPSecret("", dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(s1) < 32 {
			t.Errorf("secret %q is too short", s1)
		}
		path := filepath.Join(dir, "http-secret")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("mode = %o, want 600", mode)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(b)) != s1 {
			t.Errorf("file holds %q, returned %q", b, s1)
		}
		s2, err := EnsureHTTPSecret("", dir)
		if err != nil {
			t.Fatal(err)
		}
		if s2 != s1 {
			t.Errorf("second call gave %q, want the persisted %q", s2, s1)
		}
		other, err := EnsureHTTPSecret("", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if other == s1 {
			t.Error("two data dirs got the same generated secret")
		}
	})
	t.Run("configured value wins", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "http-secret"), []byte(strings.Repeat("a", 64)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := EnsureHTTPSecret("configured", dir)
		if err != nil || got != "configured" {
			t.Fatalf("got %q, %v; want configured", got, err)
		}
		// Nothing is written when a secret is configured.
		empty := t.TempDir()
		if _, err := EnsureHTTPSecret("configured", empty); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("data dir has %d entries, want none", len(entries))
		}
	})
	t.Run("too short a stored secret is replaced", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "http-secret")
		if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := EnsureHTTPSecret("", dir)
		if err != nil {
			t.Fatal(err)
		}
		if got == "short" || len(got) < 32 {
			t.Errorf("got %q, want a fresh secret", got)
		}
		b, _ := os.ReadFile(path)
		if strings.TrimSpace(string(b)) != got {
			t.Errorf("file holds %q, want the new secret", b)
		}
	})
	t.Run("unwritable data dir", func(t *testing.T) {
		for _, dir := range []func(t *testing.T) string{
			func(t *testing.T) string { // data dir is a regular file
				p := filepath.Join(t.TempDir(), "data")
				writeFile(t, p)
				return p
			},
			func(t *testing.T) string { // a parent is a regular file
				p := filepath.Join(t.TempDir(), "file")
				writeFile(t, p)
				return filepath.Join(p, "data")
			},
			func(t *testing.T) string { // the secret's path is a directory
				d := t.TempDir()
				mkdir(t, filepath.Join(d, "http-secret"))
				return d
			},
		} {
			d := dir(t)
			got, err := EnsureHTTPSecret("", d)
			if err == nil {
				t.Errorf("%s: got secret %q, want an error", d, got)
				continue
			}
			if !strings.Contains(err.Error(), d) {
				t.Errorf("error %q does not name the data dir %s", err, d)
			}
		}
	})
}

// Repositories lists in the order a storage walk visits, pages after a
// given name in that same order, and stops when asked.
func TestRepositories(t *testing.T) {
	r, root := newListingRegistry(t)
	list := func(after string, limit int) []string {
		var got []string
		err := r.Repositories(context.Background(), after, nil, func(name string) bool {
			got = append(got, name)
			return len(got) < limit
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := list("", 100); len(got) != 0 {
		t.Fatalf("empty registry lists %v", got)
	}
	addRepositories(t, root, "a-b", "a/b", "a/b/1x", "a/b/zz", "a/c/d", "b", "team-a/app", "team-a-x/app")
	all := list("", 100)
	// A nested repository whose name sorts before "_manifests" comes before
	// its parent: the walk meets the parent at a/b/_manifests.
	want := []string{"a/b/1x", "a/b", "a/b/zz", "a/c/d", "a-b", "b", "team-a/app", "team-a-x/app"}
	if !slices.Equal(all, want) {
		t.Fatalf("all = %v, want %v", all, want)
	}
	// Paging: every page continues exactly after the last name shown.
	var paged []string
	after := ""
	for {
		page := list(after, 1)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged = %v, want %v", paged, want)
	}
}

// descend prunes whole namespaces from the walk.
func TestRepositoriesPruned(t *testing.T) {
	r, root := newListingRegistry(t)
	addRepositories(t, root, "bulk/a", "bulk/b/c", "team-a/app", "team-a/sub/x")
	var asked, got []string
	err := r.Repositories(context.Background(), "", func(prefix string) bool {
		asked = append(asked, prefix)
		return !strings.HasPrefix(prefix, "bulk")
	}, func(name string) bool {
		got = append(got, name)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"team-a/app", "team-a/sub/x"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	if slices.Contains(asked, "bulk/a") || slices.Contains(asked, "bulk/b") {
		t.Errorf("the walk entered a pruned namespace: asked %v", asked)
	}
}

// newListingRegistry is a registry on filesystem storage in a temp dir, and
// the directory its repositories live in.
func newListingRegistry(t *testing.T) (*Registry, string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	r, err := New(context.Background(), &cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown() })
	return r, filepath.Join(cfg.DataDir, "registry", "docker", "registry", "v2", "repositories")
}

// addRepositories lays repositories out the way storage lists them: a
// directory with _manifests in it.
func addRepositories(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(root, n, "_manifests"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
