package digestalias

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/apierror"
)

// MaxManifestBytes is the largest manifest distribution accepts (its
// maxManifestBodySize); a manifest pushed by sha512 is read up to this to
// compute its sha256 digest.
const MaxManifestBytes = 4 << 20

// Handler sits in front of distribution's App for the API routes. Requests
// that name a sha256 digest, a tag, or no digest pass through untouched;
// for a sha512 digest it
//
//   - resolves GET/HEAD of blobs and manifests and cross-repository mounts
//     to the sha256 digest the alias points at;
//   - deletes a manifest by sha512 with its sha256 revision;
//   - turns a manifest PUT by sha512 into a PUT by the manifest's sha256
//     digest, once the body hashes to the sha512 digest, and links the alias
//     when distribution stored it;
//   - answers with Docker-Content-Digest, Etag and Location naming the
//     sha512 digest the client used.
//
// Authorization stays with distribution: every request is forwarded to it,
// and an alias is written only after distribution answered 201.
type Handler struct {
	next  http.Handler
	store *Store
}

// New returns a Handler forwarding to next (distribution's App).
func New(next http.Handler, store *Store) *Handler {
	return &Handler{next: next, store: store}
}

// Serve handles a request that matched route of distribution's v2 router
// with vars.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, route string, vars map[string]string) {
	name := vars["name"]
	switch route {
	case v2.RouteNameBlob:
		if d := digest.Digest(vars["digest"]); IsAlias(d) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.resolved(w, r, name, Layer, d, "/blobs/")
			return
		}
	case v2.RouteNameManifest:
		if d := digest.Digest(vars["reference"]); IsAlias(d) {
			h.manifest(w, r, name, d)
			return
		}
	case v2.RouteNameBlobUpload:
		if d := digest.Digest(r.URL.Query().Get("mount")); r.Method == http.MethodPost && IsAlias(d) {
			h.mount(w, r, name, d)
			return
		}
	case v2.RouteNameBlobUploadChunk:
		// distribution verifies the upload against the sha512 digest and
		// links the alias itself; only its answer names sha256.
		if d := digest.Digest(r.URL.Query().Get("digest")); r.Method == http.MethodPut && IsAlias(d) {
			h.next.ServeHTTP(&renamer{ResponseWriter: w, alias: d, on: http.StatusCreated}, r)
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.resolved(w, r, name, Revision, d, "/manifests/")
	case http.MethodDelete:
		h.deleteManifest(w, r, name, d)
	case http.MethodPut:
		h.putManifest(w, r, name, d)
	default:
		h.next.ServeHTTP(w, r)
	}
}

// resolved forwards r with the alias d replaced by its sha256 digest in the
// path (after /v2/<name><kind>), and names d in the answer. Without an
// alias the request goes on unchanged: distribution answers it (401, 404).
func (h *Handler) resolved(w http.ResponseWriter, r *http.Request, name string, k Kind, d digest.Digest, kind string) {
	canonical, err := h.store.Resolve(r.Context(), name, k, d)
	if err != nil {
		h.next.ServeHTTP(w, r)
		return
	}
	r2 := withPath(r, "/v2/"+name+kind+canonical.String())
	for i, v := range r2.Header.Values("If-None-Match") {
		if strings.Trim(v, `"`) == d.String() {
			r2.Header["If-None-Match"][i] = `"` + canonical.String() + `"`
		}
	}
	rn := &renamer{ResponseWriter: w, alias: d, on: http.StatusOK}
	switch r.Method {
	case http.MethodGet:
		rn.also = []int{http.StatusPartialContent, http.StatusNotModified, http.StatusTemporaryRedirect}
	case http.MethodHead:
		rn.also = []int{http.StatusNotModified, http.StatusTemporaryRedirect}
	}
	h.next.ServeHTTP(rn, r2)
}

// deleteManifest deletes a manifest by its sha512 digest: the manifest, so
// its sha256 revision (and the tags on it) first, then the alias. Both go
// through distribution, which authorizes each and forgets each digest in
// its descriptor cache; removing the alias behind its back would leave the
// cache answering for it.
func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) {
	canonical, err := h.store.Resolve(r.Context(), name, Revision, d)
	if err != nil {
		h.next.ServeHTTP(w, r)
		return
	}
	first := &captured{header: http.Header{}}
	h.next.ServeHTTP(first, withPath(r, "/v2/"+name+"/manifests/"+canonical.String()))
	if first.code != http.StatusAccepted && first.code != http.StatusNotFound {
		// Refused (401, 403, 405 with deletes off): that is the answer.
		maps.Copy(w.Header(), first.header)
		w.WriteHeader(first.code)
		_, _ = w.Write(first.body.Bytes())
		return
	}
	// Deleted, or the revision was already gone (deleted by its sha256
	// digest): the alias goes now.
	h.next.ServeHTTP(w, r)
}

// captured is an answer of distribution kept to decide what to do next; only
// small answers (DELETE) are captured.
type captured struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header { return c.header }

func (c *captured) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}

func (c *captured) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.body.Write(p)
}

// putManifest stores a manifest pushed by sha512 under its sha256 digest
// and links the alias. The body is read whole, as distribution does for
// every manifest, bounded by MaxManifestBytes: its sha256 digest is the path
// of the request distribution gets.
func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxManifestBytes+1))
	if err != nil {
		apierror.Write(w, apierror.Error{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: "reading the manifest: " + err.Error()})
		return
	}
	if len(body) > MaxManifestBytes || d.Algorithm().FromBytes(body) != d {
		// Too large or not matching the digest: distribution answers it,
		// after authorizing (a refused client learns nothing from us).
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		h.next.ServeHTTP(w, r2)
		return
	}
	canonical := digest.Canonical.FromBytes(body)
	r2 := withPath(r, "/v2/"+name+"/manifests/"+canonical.String())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	h.next.ServeHTTP(&renamer{ResponseWriter: w, alias: d, on: http.StatusCreated, before: func() error {
		return h.store.Link(r.Context(), name, Revision, d, canonical)
	}}, r2)
}

// mount resolves a cross-repository mount of an alias to a mount of its
// sha256 digest and, when distribution mounted it (201), links the alias in
// the target repository too. distribution alone would link the target to
// the sha512 digest, under which no blob is stored.
func (h *Handler) mount(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) {
	q := r.URL.Query()
	canonical, err := h.store.Resolve(r.Context(), q.Get("from"), Layer, d)
	if err != nil {
		h.next.ServeHTTP(w, r)
		return
	}
	q.Set("mount", canonical.String())
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	h.next.ServeHTTP(&renamer{ResponseWriter: w, alias: d, on: http.StatusCreated, before: func() error {
		return h.store.Link(r.Context(), name, Layer, d, canonical)
	}}, r2)
}

// withPath is r for another path, same query, headers and body.
func withPath(r *http.Request, p string) *http.Request {
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	r2.RequestURI = (&url.URL{Path: p, RawQuery: u.RawQuery}).RequestURI()
	return r2
}

// renamer names alias instead of the sha256 digest in the headers of a
// successful answer (status on or one of also), after running before. If
// before fails the client gets a 500 and distribution's answer is dropped.
type renamer struct {
	http.ResponseWriter
	alias  digest.Digest
	on     int
	also   []int
	before func() error

	wrote   bool
	dropped bool
}

func (rn *renamer) WriteHeader(code int) {
	if rn.wrote {
		return
	}
	rn.wrote = true
	if code != rn.on && !slices.Contains(rn.also, code) {
		rn.ResponseWriter.WriteHeader(code)
		return
	}
	if rn.before != nil {
		if err := rn.before(); err != nil {
			rn.dropped = true
			for _, k := range []string{"Docker-Content-Digest", "Etag", "Location", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges", "Last-Modified", "Cache-Control"} {
				rn.Header().Del(k)
			}
			apierror.Write(rn.ResponseWriter, apierror.Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: err.Error()})
			return
		}
	}
	h := rn.Header()
	if canonical := h.Get("Docker-Content-Digest"); canonical != "" {
		// A 201's Location names the new blob or manifest; a redirect's is
		// the storage's own URL and stays.
		if loc := h.Get("Location"); loc != "" && code == http.StatusCreated {
			h.Set("Location", strings.Replace(loc, canonical, rn.alias.String(), 1))
		}
		if etag := h.Get("Etag"); etag != "" {
			h.Set("Etag", strings.Replace(etag, canonical, rn.alias.String(), 1))
		}
	}
	h.Set("Docker-Content-Digest", rn.alias.String())
	rn.ResponseWriter.WriteHeader(code)
}

func (rn *renamer) Write(p []byte) (int, error) {
	if !rn.wrote {
		rn.WriteHeader(http.StatusOK)
	}
	if rn.dropped {
		return len(p), nil
	}
	return rn.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (rn *renamer) Unwrap() http.ResponseWriter { return rn.ResponseWriter }
