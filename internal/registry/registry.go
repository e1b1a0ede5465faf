// Package registry embeds the distribution registry as an http.Handler built
// from registry-stack's configuration.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"
	"github.com/gorilla/mux"
	"github.com/opencontainers/go-digest"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	yamlv2 "go.yaml.in/yaml/v2"
	"gopkg.in/yaml.v3"

	// Storage drivers register themselves with distribution's factory.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/azure"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/gcs"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/digestalias"
	"github.com/registry-stack/registry-stack/internal/referrers"
)

// Options are the parts of the registry that are not plain configuration.
type Options struct {
	// AccessController names a controller registered with distribution's
	// auth package and its parameters; empty means no authentication.
	AccessController       string
	AccessControllerParams map[string]any
	// Metrics instruments the API routes with distribution's Prometheus
	// metrics. It may be enabled for one registry per process only, since
	// distribution registers its collectors globally.
	Metrics bool
	// Host is the externally visible base URL used in Location headers;
	// empty means the request's own host.
	Host string
	// Logger receives start-up notes about the storage; nil discards them.
	Logger *slog.Logger
}

// Registry is the embedded distribution registry.
type Registry struct {
	app    *handlers.App
	routes *mux.Router
	// aliases serves sha512 digests in front of app.
	aliases *digestalias.Handler
	driver  storagedriver.StorageDriver
	health  *storageHealth
	usage   *memo[UploadUsage]
	// catalogMax is distribution.catalog.maxentries, the largest page.
	catalogMax int
	// storage reads manifests through distribution's storage layer, on
	// the same driver instance as the readiness probe.
	storage   distribution.Namespace
	referrers *referrers.Store
	// upstream is the registry this one is a pull-through cache of;
	// empty when it is not a cache.
	upstream string
	// upstreamReferrers lists referrers at the upstream; nil when not a
	// cache.
	upstreamReferrers *upstreamReferrers
}

// New builds the distribution App. distribution panics on many bad settings;
// those panics are returned as errors naming the section.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Registry, error) {
	dcfg, err := DistributionConfig(cfg, opts)
	if err != nil {
		return nil, err
	}
	// A separate driver instance answers readiness probes without going
	// through the API (and its auth).
	driver, err := factory.Create(ctx, dcfg.Storage.Type(), dcfg.Storage.Parameters())
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", dcfg.Storage.Type(), err)
	}
	health, err := newStorageHealth(driver, dcfg, cfg.Storage.MinFree.Bytes())
	if err != nil {
		return nil, err
	}
	if opts.Logger != nil && health.fsRoot == "" && cfg.Storage.MinFree > 0 {
		opts.Logger.Info("storage.min_free is not checked: only filesystem storage has a free space to measure", "driver", dcfg.Storage.Type())
	}
	var upRefs *upstreamReferrers
	if dcfg.Proxy.RemoteURL != "" {
		key := "proxy.remote_url"
		if cfg.Proxy.RemoteURL == "" {
			key = "distribution.proxy.remoteurl"
		}
		if err := checkUpstream(ctx, key, dcfg.Proxy.RemoteURL); err != nil {
			return nil, err
		}
		if upRefs, err = newUpstreamReferrers(dcfg.Proxy, key, nil); err != nil {
			return nil, err
		}
	}
	app, err := newApp(ctx, dcfg)
	if err != nil {
		return nil, err
	}
	ns, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", dcfg.Storage.Type(), err)
	}
	return &Registry{
		storage:    ns,
		referrers:  referrers.NewStore(driver),
		app:        app,
		aliases:    digestalias.New(app, digestalias.NewStore(driver)),
		driver:     driver,
		health:     health,
		usage:      newMemo(usageEvery, func(ctx context.Context) (UploadUsage, error) { return uploadUsage(ctx, driver) }),
		routes:     v2.Router(),
		catalogMax: dcfg.Catalog.MaxEntries,
		upstream:   dcfg.Proxy.RemoteURL,
		// A cache's referrers listings come from the upstream.
		upstreamReferrers: upRefs,
	}, nil
}

func newApp(ctx context.Context, dcfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("distribution registry: %v", r)
		}
	}()
	return handlers.NewApp(ctx, dcfg), nil
}

// ServeHTTP serves the /v2/ API. Paths that match no API route get the
// spec's JSON errors (NAME_INVALID for a malformed repository name) rather
// than the router's plain-text 404, so clients can tell what was wrong.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var m mux.RouteMatch
	if !r.routes.Match(req, &m) || m.MatchErr != nil {
		serveUnmatched(w, req)
		return
	}
	if r.upstream != "" && req.Method != http.MethodGet && req.Method != http.MethodHead {
		serveReadOnlyCache(w)
		return
	}
	if m.Route.GetName() == v2.RouteNameManifest && req.Method == http.MethodPut {
		a := &layerURLAnswer{ResponseWriter: w}
		defer a.finish()
		w = a
	}
	r.aliases.Serve(w, req, m.Route.GetName(), m.Vars)
}

// apiPath splits /v2/<name>/<kind>/<rest> for paths no route matched.
var apiPath = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs|tags)/`)

func serveUnmatched(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if m := apiPath.FindStringSubmatch(req.URL.Path); m != nil {
		if _, err := reference.ParseNormalizedNamed(m[1]); err != nil || !reference.NameRegexp.MatchString(m[1]) {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail(map[string]string{"name": m[1]}))
			return
		}
		rest := strings.TrimPrefix(req.URL.Path, "/v2/"+m[1]+"/"+m[2]+"/")
		switch {
		case m[2] == "blobs" && !strings.HasPrefix(rest, "uploads"):
			_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail("malformed digest"))
			return
		case m[2] == "manifests":
			_ = errcode.ServeJSON(w, errcode.ErrorCodeTagInvalid.WithDetail("malformed tag or digest"))
			return
		}
	}
	// The spec has no generic "not found" code; UNSUPPORTED with 404 tells
	// clients this endpoint does not exist here.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{"errors":[{"code":"UNSUPPORTED","message":"no such registry API endpoint"}]}`+"\n")
}

// Referrers is the referrers index, kept in the registry's storage.
func (r *Registry) Referrers() *referrers.Store { return r.referrers }

// Manifest reads the manifest dgst of repository repo through
// distribution's storage: its media type and payload.
func (r *Registry) Manifest(ctx context.Context, repo string, dgst digest.Digest) (string, []byte, error) {
	named, err := reference.WithName(repo)
	if err != nil {
		return "", nil, err
	}
	rep, err := r.storage.Repository(ctx, named)
	if err != nil {
		return "", nil, err
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return "", nil, err
	}
	m, err := ms.Get(ctx, dgst)
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s of %s: %w", dgst, repo, err)
	}
	return m.Payload()
}

// CatalogMaxEntries is the largest catalog page (distribution's
// catalog.maxentries).
func (r *Registry) CatalogMaxEntries() int { return r.catalogMax }

// errStopListing ends a repository walk early.
var errStopListing = errors.New("stop listing")

// repositoriesRoot is where distribution keeps repositories in storage.
const repositoriesRoot = digestalias.RepositoriesRoot

// Repositories calls fn with each repository name after the name after (all
// when empty), in the order a storage walk visits them (see comparePaths),
// until fn returns false or none are left. descend, when not nil, is asked
// before the walk enters a directory, with the name prefix it stands for
// (such as "team-a"); false skips everything under it, which is how the
// catalog avoids walking namespaces the caller may not see. The storage is
// walked once: distribution's paged listing walks it again from the start
// for every page, which is quadratic in the number of repositories.
func (r *Registry) Repositories(ctx context.Context, after string, descend func(prefix string) bool, fn func(name string) bool) error {
	// Positions in the walk are compared, not names: a repository is met at
	// its _manifests directory, after nested repositories whose names sort
	// before "_manifests" (a/b/1x comes before a/b).
	mark := ""
	var opts []func(*storagedriver.WalkOptions)
	if after != "" {
		mark = after + "/_manifests"
		// Drivers that list keys (s3) start there instead of at the top.
		opts = append(opts, storagedriver.WithStartAfterHint(repositoriesRoot+"/"+mark))
	}
	stopped := false
	err := r.driver.Walk(ctx, repositoriesRoot, func(fi storagedriver.FileInfo) error {
		rel := strings.TrimPrefix(fi.Path(), repositoriesRoot+"/")
		base := path.Base(rel)
		switch {
		case strings.Contains("/"+path.Dir(rel)+"/", "/_"):
			// Inside a repository's data: a walk resumed from the start-after
			// hint begins in the last page's _manifests.
			return storagedriver.ErrSkipDir
		case base == "_manifests":
			if mark == "" || comparePaths(rel, mark) > 0 {
				if !fn(path.Dir(rel)) {
					stopped = true
					return errStopListing
				}
			}
			return storagedriver.ErrSkipDir
		case strings.HasPrefix(base, "_"), !fi.IsDir():
			// _layers, _uploads: repository data, not names.
			return storagedriver.ErrSkipDir
		case mark != "" && comparePaths(rel, mark) < 0 && !strings.HasPrefix(mark, rel+"/"):
			// Everything under rel comes before the last page's end.
			return storagedriver.ErrSkipDir
		case descend != nil && !descend(rel):
			return storagedriver.ErrSkipDir
		}
		return nil
	}, opts...)
	var notFound storagedriver.PathNotFoundError
	switch {
	// Drivers wrap the callback's error as text, so stopping is
	// remembered rather than recognised.
	case err == nil, stopped, errors.As(err, &notFound):
		// Not found: no repository was ever pushed, an empty list.
		return nil
	}
	return fmt.Errorf("listing repositories: %w", err)
}

// comparePaths orders storage paths the way a directory walk visits them:
// segment by segment, so "a/b" comes before "a-b" although '/' sorts after
// '-' byte-wise.
func comparePaths(a, b string) int {
	for {
		as, arest, amore := strings.Cut(a, "/")
		bs, brest, bmore := strings.Cut(b, "/")
		if c := strings.Compare(as, bs); c != 0 {
			return c
		}
		switch {
		case !amore && !bmore:
			return 0
		case !amore:
			return -1
		case !bmore:
			return 1
		}
		a, b = arest, brest
	}
}

// StorageCheck is the registry's readiness check, named "storage".
func (r *Registry) StorageCheck() StorageCheck { return StorageCheck{r} }

// StorageCheck reports whether the registry's storage backend answers and
// can take writes.
type StorageCheck struct{ r *Registry }

// Name names the check in /readyz's answer.
func (StorageCheck) Name() string { return "storage" }

// Check runs the check.
func (c StorageCheck) Check(ctx context.Context) error { return c.r.CheckStorage(ctx) }

// CheckStorage reports whether the storage backend answers and can take
// writes: free space at least storage.min_free (filesystem storage) and a
// tiny write through the driver that succeeds (its result reused for a few
// seconds). The error never names a server path: /readyz is public.
func (r *Registry) CheckStorage(ctx context.Context) error {
	fi, err := r.driver.Stat(ctx, "/")
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("storage %s: %s", r.driver.Name(), r.health.clean(err))
	}
	// A file where the root directory should be passes Stat but fails
	// every write.
	if err == nil && fi != nil && !fi.IsDir() {
		return fmt.Errorf("storage %s: root is not a directory", r.driver.Name())
	}
	if err := r.health.check(ctx); err != nil {
		return fmt.Errorf("storage %s: %w", r.driver.Name(), err)
	}
	return nil
}

// Shutdown stops background work (upload purging, notifications).
func (r *Registry) Shutdown() error { return r.app.Shutdown() }

// DefaultLayerURLsAllow is distribution.validation.manifests.urls.allow
// when neither allow nor deny is configured: any http or https URL.
const DefaultLayerURLsAllow = "^https?://"

// DistributionConfig translates registry-stack's config into distribution's.
func DistributionConfig(cfg *config.Config, opts Options) (*configuration.Configuration, error) {
	var d configuration.Configuration
	// Passed-through sections are decoded by distribution's own YAML library
	// so they get exactly the types distribution expects.
	if len(cfg.Distribution) > 0 {
		raw, err := yaml.Marshal(cfg.Distribution)
		if err != nil {
			return nil, fmt.Errorf("distribution: %w", err)
		}
		if err := yamlv2.UnmarshalStrict(raw, &d); err != nil {
			return nil, sectionError(cfg.Distribution, err)
		}
	}
	if _, ok := cfg.Distribution["storage"]; ok && len(d.Storage) == 0 {
		// An empty "storage:" (everything below it commented out) would
		// otherwise leave no storage at all.
		return nil, &config.Error{Key: "distribution.storage", Msg: "names no storage driver (e.g. filesystem, s3, gcs, azure); remove the section to use the data dir"}
	}
	if _, ok := cfg.Distribution["storage"]; !ok {
		d.Storage = configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": filepath.Join(cfg.DataDir, "registry")},
			"cache":      configuration.Parameters{"blobdescriptor": "inmemory"},
		}
	}
	if _, ok := d.Storage["delete"]; !ok {
		d.Storage["delete"] = configuration.Parameters{"enabled": cfg.Storage.Delete}
	}
	setUploadPurging(d.Storage, cfg.Storage)
	if d.Storage.Type() == "" {
		return nil, &config.Error{Key: "distribution.storage", Msg: "names no storage driver (e.g. filesystem, s3, gcs, azure)"}
	}
	// The defaults distribution's own config parser would have applied.
	if d.Catalog.MaxEntries <= 0 {
		d.Catalog.MaxEntries = 1000
	}
	if d.Tags.MaxTags < 0 {
		return nil, &config.Error{Key: "distribution.tags.maxtags", Msg: "must not be negative"}
	}
	if d.Tags.MaxTags == 0 {
		d.Tags.MaxTags = 1000
	}
	// Layers with urls (non-distributable layers, OCI image spec) are
	// accepted by default, as the OCI distribution spec's conformance suite
	// expects: distribution's own default allows no URL at all and refuses
	// such a manifest with a 500. Its scheme and fragment checks still
	// apply; distribution.validation.manifests.urls narrows it.
	if !d.Validation.Disabled && len(d.Validation.Manifests.URLs.Allow) == 0 && len(d.Validation.Manifests.URLs.Deny) == 0 {
		d.Validation.Manifests.URLs.Allow = []string{DefaultLayerURLsAllow}
	}
	if cfg.Proxy.RemoteURL != "" {
		d.Proxy = proxyConfig(cfg.Proxy)
	}
	d.Log.Level = "info"
	d.HTTP.Secret = cfg.HTTPSecret
	d.HTTP.Host = opts.Host
	d.HTTP.Debug.Prometheus.Enabled = opts.Metrics
	d.Log.AccessLog.Disabled = true
	if opts.AccessController != "" {
		d.Auth = configuration.Auth{opts.AccessController: opts.AccessControllerParams}
	}
	return &d, nil
}

// sectionError names the passed-through section distribution refuses, by
// decoding each on its own. Line numbers are dropped: they count lines of
// the re-encoded section, not of the user's file.
func sectionError(sections map[string]any, whole error) error {
	for _, name := range slices.Sorted(maps.Keys(sections)) {
		raw, err := yaml.Marshal(map[string]any{name: sections[name]})
		if err != nil {
			continue
		}
		var d configuration.Configuration
		if err := yamlv2.UnmarshalStrict(raw, &d); err != nil {
			return &config.Error{Key: "distribution." + name, Msg: yamlv2Message(err)}
		}
	}
	return &config.Error{Key: "distribution", Msg: yamlv2Message(whole)}
}

var yamlLine = regexp.MustCompile(`line \d+: `)

// yamlv2Message makes a yaml.v2 error one line without misleading line
// numbers.
func yamlv2Message(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:")
	msg = yamlLine.ReplaceAllString(msg, "")
	return strings.Join(strings.Fields(msg), " ")
}

// EnsureHTTPSecret returns the configured secret or one kept in dataDir, so
// upload sessions stay valid across restarts of a single instance.
func EnsureHTTPSecret(configured, dataDir string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, "http-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate http secret: %w", err)
	}
	secret := hex.EncodeToString(buf)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("data_dir %s: %w", dataDir, err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("data_dir %s: write http secret: %w", dataDir, err)
	}
	return secret, nil
}
