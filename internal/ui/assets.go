package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
)

// asset is one response body, prepared once at startup: content hash for
// the ETag, and a gzip copy when that is smaller.
type asset struct {
	body        []byte
	gz          []byte // nil when compression does not help
	etag        string // quoted strong ETag of body
	gzETag      string // quoted strong ETag of gz
	contentType string
}

func newAsset(body []byte, contentType string) *asset {
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:16])
	a := &asset{body: body, etag: `"` + tag + `"`, contentType: contentType}
	if compressible(contentType) {
		if gz := gzipBytes(body); len(gz) < len(body) {
			a.gz = gz
			a.gzETag = `"` + tag + `-gz"`
		}
	}
	return a
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(b)                                       // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	return buf.Bytes()
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "javascript") || strings.Contains(ct, "json") || strings.Contains(ct, "svg")
}

// serve writes the asset with its validators, answering conditional
// requests with 304 and gzip-capable clients with the compressed copy.
func (a *asset) serve(w http.ResponseWriter, r *http.Request, cacheControl string) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", cacheControl)
	body, etag := a.body, a.etag
	if a.gz != nil {
		// Caches must key on Accept-Encoding even when this answer is identity.
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, a.gzETag
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, a.etag, a.gzETag) {
		hdr.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client went away; nothing to do
	}
}

// readAssets reads every regular file of fsys into memory.
func readAssets(fsys fs.FS) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: read assets: %w", err)
	}
	return files, nil
}

// treeHash names one version of the whole file set: any change to any
// file gives every asset a new URL, so browsers never mix versions.
func treeHash(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		sum := sha256.Sum256(files[n])
		fmt.Fprintf(h, "%s\x00%x\n", n, sum)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".webp": "image/webp",
}

// contentType is fixed for the types the UI uses: the system MIME table
// differs between machines and nosniff makes a wrong type fatal for scripts.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := types[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// renderIndex fills index.html's placeholders: title, default theme, the
// versioned asset prefix and a modulepreload link per script (so the
// browser fetches the module graph in parallel instead of level by level).
func renderIndex(tmpl []byte, o Options, prefix string, files map[string][]byte) ([]byte, error) {
	var preload strings.Builder
	var scripts []string
	for n := range files {
		if strings.HasSuffix(n, ".js") && n != "js/main.js" {
			scripts = append(scripts, n)
		}
	}
	slices.Sort(scripts)
	for _, n := range scripts {
		fmt.Fprintf(&preload, "<link rel=\"modulepreload\" href=\"%s/%s\">\n", prefix, n)
	}
	theme := o.Theme
	switch theme {
	case "light", "dark", "auto":
	default:
		theme = "auto"
	}
	r := strings.NewReplacer(
		"{{TITLE}}", html.EscapeString(title(o)),
		"{{THEME}}", theme,
		"{{ASSETS}}", prefix,
		"{{PRELOAD}}\n", preload.String(),
	)
	out := r.Replace(string(tmpl))
	if strings.Contains(out, "{{") {
		return nil, fmt.Errorf("ui: index.html has an unknown placeholder near %q", out[strings.Index(out, "{{"):min(len(out), strings.Index(out, "{{")+20)])
	}
	return []byte(out), nil
}

func title(o Options) string {
	if o.Title == "" {
		return "registry-stack"
	}
	return o.Title
}
