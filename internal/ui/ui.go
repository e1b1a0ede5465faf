// Package ui serves the embedded web UI: the single page (index.html) for
// every UI path, its assets under /static/, and the runtime settings at
// /ui/config.json, with security headers, precomputed gzip and caching
// that never serves a stale UI after an upgrade.
package ui

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Options are the UI's runtime settings and its files.
type Options struct {
	Title    string
	PullHost string // host[:port] shown in pull commands; empty = the page's host
	// DeleteEnabled shows delete controls (storage.delete).
	DeleteEnabled bool
	AuthMode      string // "none", "keycloak" or "oidc"
	TokenPath     string // the stack's token endpoint path (keycloak and oidc modes)
	Service       string // the token service
	Theme         string // "auto", "light" or "dark"
	Version       string
	Assets        fs.FS // rooted at the static directory: index.html, js/, css/
}

// ConfigPath is where the UI reads its runtime settings.
const ConfigPath = "/ui/config.json"

// assetRoot is the URL prefix of the static files. Files are served under
// assetRoot + "v-<tree hash>/" (immutable: the name changes with every
// content change) and, unversioned, under assetRoot itself (revalidated).
const assetRoot = "/static/"

type handler struct {
	assets  map[string]*asset // by path relative to the static root
	index   *asset            // index.html with the asset prefix filled in
	config  *asset
	version string // "v-<tree hash>"
}

// New loads and compresses every asset once and returns the UI handler.
func New(o Options) (http.Handler, error) {
	if o.Assets == nil {
		return nil, errors.New("ui: no assets")
	}
	files, err := readAssets(o.Assets)
	if err != nil {
		return nil, err
	}
	tmpl, ok := files["index.html"]
	if !ok {
		return nil, errors.New("ui: assets have no index.html")
	}
	delete(files, "index.html") // only served as the page, with its placeholders filled
	h := &handler{assets: map[string]*asset{}, version: "v-" + treeHash(files)}
	for name, data := range files {
		h.assets[name] = newAsset(data, contentType(name))
	}
	page, err := renderIndex(tmpl, o, assetRoot+h.version, files)
	if err != nil {
		return nil, err
	}
	h.index = newAsset(page, "text/html; charset=utf-8")
	cfg, err := configJSON(o)
	if err != nil {
		return nil, err
	}
	h.config = newAsset(cfg, "application/json")
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == ConfigPath:
		// Settings change with the server's config, not with the files.
		h.config.serve(w, r, "no-store")
	case strings.HasPrefix(p, assetRoot):
		h.serveAsset(w, r, strings.TrimPrefix(p, assetRoot))
	case isPagePath(p):
		h.index.serve(w, r, "no-cache")
	default:
		http.NotFound(w, r)
	}
}

// serveAsset serves name, optionally prefixed by a version segment. Only the
// current version is immutable; any other version (a page loaded before an
// upgrade) still gets the current file, revalidated on every use.
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	cache := "no-cache"
	if first, rest, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(first, "v-") {
		name = rest
		if first == h.version {
			cache = "public, max-age=31536000, immutable"
		}
	}
	a, ok := h.assets[path.Clean("/" + name)[1:]]
	if !ok || name == "" {
		http.NotFound(w, r)
		return
	}
	a.serve(w, r, cache)
}

// isPagePath says whether p is a UI page (answered with index.html): the
// catalog, anything under /r/ (repository names may contain dots), and any
// other path whose last segment has no file extension. A missing file such
// as /favicon.ico stays a 404.
func isPagePath(p string) bool {
	if p == "/" || strings.HasPrefix(p, "/r/") {
		return true
	}
	return path.Ext(path.Base(p)) == ""
}
