package referrers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"
)

// ManifestReader reads a manifest stored in a repository: its payload and
// media type. The registry implements it through distribution's storage.
type ManifestReader interface {
	Manifest(ctx context.Context, repo string, dgst digest.Digest) (mediaType string, payload []byte, err error)
}

// Options configures the handler.
type Options struct {
	Store     *Store
	Manifests ManifestReader
	// Access authorizes a listing (pull on the repository) the way the
	// registry authorizes its own routes; nil means no authentication.
	Access auth.AccessController
	// PageSize is the most descriptors one answer lists (default
	// DefaultPageSize); a client may ask for fewer with n.
	PageSize int
	Logger   *slog.Logger
	// Upstream, in a pull-through cache, lists referrers at the upstream
	// registry. A listing's first page brings the local index in line
	// with it, so the last list seen is served while the upstream is down.
	Upstream Upstream
}

// Upstream lists a subject's referrers at a cache's upstream registry.
// complete is false when descs may be only part of the list (too long to
// read whole, or a later page failed): its entries are added to the
// index, none is removed.
type Upstream interface {
	Referrers(ctx context.Context, repo string, subject digest.Digest) (descs []v1.Descriptor, complete bool, err error)
}

// upstreamFresh is how long a list synced from the upstream is served
// without asking again: a burst of listings makes one upstream call, and a
// referrer attached or deleted there shows at most this late.
const upstreamFresh = 5 * time.Second

// DefaultPageSize is the page size when Options names none.
const DefaultPageSize = 1000

// maxPageBytes bounds one answer, whatever the annotations weigh: clients
// read an index with the 4 MiB limit of manifests.
const maxPageBytes = 1 << 20

// maxManifestBytes is distribution's limit on a manifest PUT body; a copy
// of at most this much is kept to find the subject.
const maxManifestBytes = 4 << 20

// readAhead is how many index entries are read concurrently.
const readAhead = 16

type handler struct {
	o     Options
	next  http.Handler
	cache *descCache
	// syncing joins concurrent syncs of one (repository, subject); synced
	// remembers when each last succeeded.
	syncing singleflight.Group
	synced  *freshness
}

// New wraps next (the registry) with the referrers API.
func New(o Options, next http.Handler) http.Handler {
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{o: o, next: next, cache: newDescCache(), synced: newFreshness(upstreamFresh)}
}

// apiPath splits /v2/<name>/<kind>/<reference>.
var apiPath = regexp.MustCompile(`^/v2/(.+)/(referrers|manifests)/([^/]+)$`)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := apiPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	name, kind, ref := m[1], m[2], m[3]
	switch {
	case kind == "referrers":
		h.serveList(w, r, name, ref)
	case r.Method == http.MethodPut:
		h.servePut(w, r, name)
	case r.Method == http.MethodDelete:
		h.serveDelete(w, r, name, ref)
	default:
		h.next.ServeHTTP(w, r)
	}
}

// serveList answers GET /v2/<name>/referrers/<digest>: always an image
// index (empty when nothing refers to the digest, or the repository does
// not exist), filtered by artifactType, paged with a Link header.
func (h *handler) serveList(w http.ResponseWriter, r *http.Request, name, ref string) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnsupported.WithMessage("use GET or HEAD"))
		return
	}
	if _, err := reference.WithName(name); err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail(map[string]string{"name": name}))
		return
	}
	if !h.authorized(w, r, name) {
		return
	}
	subject, err := digest.Parse(ref)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail(ref))
		return
	}
	q := r.URL.Query()
	n := h.o.PageSize
	if v := q.Get("n"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 1 || i > h.o.PageSize {
			_ = errcode.ServeJSON(w, errcode.ErrorCodePaginationNumberInvalid.WithDetail(map[string]any{"n": v, "max": h.o.PageSize}))
			return
		}
		n = i
	}
	var last digest.Digest
	if v := q.Get("last"); v != "" {
		if last, err = digest.Parse(v); err != nil {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail(map[string]string{"last": v}))
			return
		}
	}
	artifactType := q.Get("artifactType")
	if h.o.Upstream != nil && last == "" {
		h.syncUpstream(r.Context(), name, subject)
	}
	page, more, err := h.page(r.Context(), name, subject, last, artifactType, n)
	if err != nil {
		h.o.Logger.ErrorContext(r.Context(), "referrers listing failed", "repository", name, "subject", subject, "error", err)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", v1.MediaTypeImageIndex)
	if artifactType != "" {
		hdr.Set("OCI-Filters-Applied", "artifactType")
	}
	if more {
		next := url.Values{"last": {page[len(page)-1].digest.String()}}
		if q.Has("n") {
			next.Set("n", strconv.Itoa(n))
		}
		if artifactType != "" {
			next.Set("artifactType", artifactType)
		}
		hdr.Set("Link", "<"+(&url.URL{Path: r.URL.Path, RawQuery: next.Encode()}).String()+`>; rel="next"`)
	}
	var body bytes.Buffer
	body.WriteString(`{"schemaVersion":2,"mediaType":"` + v1.MediaTypeImageIndex + `","manifests":[`)
	for i, e := range page {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(e.raw)
	}
	body.WriteString("]}\n")
	hdr.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body.Bytes())
	}
}

// syncUpstream brings repo's index of subject in line with the upstream,
// once for all the listings that ask at the same time and at most once per
// upstreamFresh. A listing whose client goes away stops waiting; the sync
// goes on for the others.
func (h *handler) syncUpstream(ctx context.Context, repo string, subject digest.Digest) {
	key := repo + "@" + subject.String()
	if h.synced.fresh(key) {
		return
	}
	ch := h.syncing.DoChan(key, func() (any, error) {
		if h.synced.fresh(key) {
			return nil, nil
		}
		h.sync(context.WithoutCancel(ctx), repo, subject)
		// A failure counts too: an upstream that refuses the cache's login
		// is not asked again at every listing (nor the cache's account
		// locked out there by failed logins).
		h.synced.mark(key)
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// sync makes repo's index of subject what the upstream lists: entries it
// lists are added, others removed, but only when the upstream's list is
// complete. When the upstream cannot be asked, the index stays as it was.
func (h *handler) sync(ctx context.Context, repo string, subject digest.Digest) {
	descs, complete, err := h.o.Upstream.Referrers(ctx, repo, subject)
	switch {
	case err != nil && len(descs) == 0:
		h.o.Logger.WarnContext(ctx, "upstream referrers not listed: serving the cache's last copy", "repository", repo, "subject", subject, "error", err)
		return
	case err != nil:
		h.o.Logger.WarnContext(ctx, "upstream referrers listed in part: adding what was read, removing nothing", "repository", repo, "subject", subject, "read", len(descs), "error", err)
		complete = false
	case !complete:
		h.o.Logger.WarnContext(ctx, "upstream referrers list too long to read whole: adding what was read, removing nothing", "repository", repo, "subject", subject, "read", len(descs))
	}
	local, err := h.o.Store.List(ctx, repo, subject)
	if err != nil {
		h.o.Logger.ErrorContext(ctx, "referrers index not read", "repository", repo, "subject", subject, "error", err)
		return
	}
	listed := make(map[digest.Digest]bool, len(descs))
	for _, d := range descs {
		if d.Digest.Validate() != nil || d.MediaType == "" || listed[d.Digest] {
			continue
		}
		listed[d.Digest] = true
		if slices.Contains(local, d.Digest) {
			continue
		}
		if err := h.o.Store.Add(ctx, repo, Referrer{Subject: subject, Descriptor: d}); err != nil {
			h.o.Logger.ErrorContext(ctx, "upstream referrer not recorded", "repository", repo, "subject", subject, "error", err)
		}
	}
	if !complete {
		return
	}
	for _, d := range local {
		if listed[d] {
			continue
		}
		if err := h.o.Store.Remove(ctx, repo, subject, d); err != nil {
			h.o.Logger.ErrorContext(ctx, "referrer gone upstream not removed", "repository", repo, "subject", subject, "error", err)
		}
	}
}

type entry struct {
	digest digest.Digest
	raw    json.RawMessage
}

// page reads up to n entries of subject's list after last that match
// artifactType (any when empty), and reports whether more follow.
func (h *handler) page(ctx context.Context, repo string, subject, last digest.Digest, artifactType string, n int) ([]entry, bool, error) {
	all, err := h.o.Store.List(ctx, repo, subject)
	if err != nil {
		return nil, false, err
	}
	if last != "" {
		i := 0
		for i < len(all) && all[i] <= last {
			i++
		}
		all = all[i:]
	}
	page := make([]entry, 0, min(n, len(all)))
	size := 0
	for start := 0; start < len(all); start += readAhead {
		batch := all[start:min(start+readAhead, len(all))]
		descs, raws, err := h.read(ctx, repo, subject, batch)
		if err != nil {
			return nil, false, err
		}
		for i, d := range batch {
			if raws[i] == nil || (artifactType != "" && descs[i].ArtifactType != artifactType) {
				continue
			}
			if len(page) == n || (len(page) > 0 && size+len(raws[i]) > maxPageBytes) {
				return page, true, nil
			}
			page = append(page, entry{digest: d, raw: raws[i]})
			size += len(raws[i])
		}
	}
	return page, false, nil
}

// read fetches entries, from the cache or concurrently from the storage;
// an entry removed since the listing leaves a nil raw.
func (h *handler) read(ctx context.Context, repo string, subject digest.Digest, batch []digest.Digest) ([]v1.Descriptor, [][]byte, error) {
	descs := make([]v1.Descriptor, len(batch))
	raws := make([][]byte, len(batch))
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	for i, d := range batch {
		if e, ok := h.cache.get(d); ok {
			descs[i], raws[i] = e.desc, e.raw
			continue
		}
		wg.Go(func() {
			desc, err := h.o.Store.Get(ctx, repo, subject, d)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				errs[i] = err
			case desc.Digest != d:
				errs[i] = fmt.Errorf("referrers index of %s in %s: entry %s holds %s", subject, repo, d, desc.Digest)
			default:
				// Re-encoded, so that what the answer carries is what was
				// decoded, whatever else the stored object holds.
				raw, err := json.Marshal(desc)
				if err != nil {
					errs[i] = err
					return
				}
				descs[i], raws[i] = desc, raw
				h.cache.put(d, cached{desc, raw})
			}
		})
	}
	wg.Wait()
	return descs, raws, errors.Join(errs...)
}

// authorized asks the access controller for pull on the repository, as
// distribution does for its own routes, and answers the challenge itself.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request, name string) bool {
	if h.o.Access == nil {
		return true
	}
	access := []auth.Access{{Resource: auth.Resource{Type: "repository", Name: name}, Action: "pull"}}
	_, err := h.o.Access.Authorized(r, access...)
	if err == nil {
		return true
	}
	var ch auth.Challenge
	if errors.As(err, &ch) {
		ch.SetHeaders(r, w)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnauthorized.WithDetail(access))
		return false
	}
	h.o.Logger.ErrorContext(r.Context(), "referrers authorization failed", "repository", name, "error", err)
	w.WriteHeader(http.StatusBadRequest)
	return false
}

// servePut passes a manifest PUT to the registry with a bounded copy of the
// body; when the registry stored it (201) and it has a subject, the entry is
// recorded before the answer goes out, with the OCI-Subject header.
func (h *handler) servePut(w http.ResponseWriter, r *http.Request, name string) {
	body := &capped{limit: maxManifestBytes}
	r.Body = teeBody{r.Body, body}
	pw := &statusWriter{ResponseWriter: w}
	pw.beforeHeader = func(status int) int {
		if status != http.StatusCreated {
			return status
		}
		hdr := w.Header()
		ref, ok, err := h.stored(r.Context(), name, digest.Digest(hdr.Get("Docker-Content-Digest")), r.Header.Get("Content-Type"), body)
		if err == nil && ok {
			err = h.o.Store.Add(r.Context(), name, ref)
		}
		if err != nil {
			// The manifest is stored but not indexed: the client sees a
			// failure and retries the (idempotent) PUT.
			h.o.Logger.ErrorContext(r.Context(), "referrers: recording a manifest's subject failed", "repository", name, "error", err)
			hdr.Del("Location")
			hdr.Del("Docker-Content-Digest")
			pw.failed = true
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithMessage("the manifest was stored but its subject could not be recorded; push it again"))
			return 0
		}
		if ok {
			hdr.Set("OCI-Subject", ref.Subject.String())
		}
		return status
	}
	h.next.ServeHTTP(pw, r)
}

// stored describes the manifest the registry just stored: from the copy of
// the body when it is whole and has the stored digest, else read back.
func (h *handler) stored(ctx context.Context, repo string, dgst digest.Digest, contentType string, body *capped) (Referrer, bool, error) {
	if err := dgst.Validate(); err != nil {
		return Referrer{}, false, err
	}
	if !body.over && dgst.Algorithm().FromBytes(body.buf.Bytes()) == dgst {
		return describeStored(body.buf.Bytes(), contentType, dgst)
	}
	mediaType, payload, err := h.o.Manifests.Manifest(ctx, repo, dgst)
	if err != nil {
		return Referrer{}, false, err
	}
	return describeStored(payload, mediaType, dgst)
}

// describeStored is Describe for a manifest the registry accepted: one
// whose subject cannot be read is stored but not indexed, as the registry
// does not validate subjects.
func describeStored(payload []byte, contentType string, dgst digest.Digest) (Referrer, bool, error) {
	r, ok, err := Describe(payload, contentType, dgst)
	if err != nil {
		return Referrer{}, false, nil
	}
	return r, ok, nil
}

// serveDelete removes a referrer's entry once the registry deleted the
// manifest (202). A tag delete changes no manifest.
func (h *handler) serveDelete(w http.ResponseWriter, r *http.Request, name, ref string) {
	dgst, err := digest.Parse(ref)
	if err != nil {
		h.next.ServeHTTP(w, r)
		return
	}
	// Read before the registry deletes it (its link is gone afterwards).
	// The registry still authorizes and answers the request; this read
	// only decides what to remove once it answered 202.
	mediaType, payload, err := h.o.Manifests.Manifest(r.Context(), name, dgst)
	if err != nil {
		h.next.ServeHTTP(w, r) // unknown here: the registry answers
		return
	}
	referrer, ok, _ := Describe(payload, mediaType, dgst)
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	h.next.ServeHTTP(sw, r)
	if sw.status == http.StatusAccepted {
		if err := h.o.Store.Remove(r.Context(), name, referrer.Subject, dgst); err != nil {
			// garbage-collect removes entries of deleted manifests.
			h.o.Logger.ErrorContext(r.Context(), "referrers: removing a deleted referrer failed", "repository", name, "error", err)
		}
	}
}

// capped keeps the first limit bytes written to it.
type capped struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.limit - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

type teeBody struct {
	io.ReadCloser
	copy io.Writer
}

func (t teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		_, _ = t.copy.Write(p[:n])
	}
	return n, err
}

// statusWriter records the status and lets beforeHeader change it (0: the
// answer was written instead, and what the registry writes is dropped).
type statusWriter struct {
	http.ResponseWriter
	status       int
	beforeHeader func(status int) int
	failed       bool
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status != 0 {
		return
	}
	if s.beforeHeader != nil {
		status = s.beforeHeader(status)
	}
	if status == 0 {
		s.status = http.StatusInternalServerError
		return
	}
	s.status = status
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.failed {
		return len(p), nil
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
