package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/registry-stack/registry-stack/internal/referrers"
)

// pagingFaultUpstream is an in-process stand-in for an upstream registry
// that injects what a real one produces only at great cost: a referrers
// list paged every few entries (a real registry pages at 1000), slow
// answers, and counts of its logins and listings. It asks for a bearer
// token from its own /token, as registry-stack does.
type pagingFaultUpstream struct {
	srv      *httptest.Server
	entries  []v1.Descriptor // sorted by digest
	pageSize int
	delay    time.Duration // before each listing's first page
	failNext bool          // answer 500 to every page but the first
	logins   atomic.Int32  // token requests with the right password
	listings atomic.Int32  // first pages served
	requests atomic.Int32  // every request
}

const (
	fakeUser, fakePassword, fakeToken = "cache", "s3cret", "fake-token"
)

func newPagingFaultUpstream(t *testing.T, tls bool, n, pageSize int) *pagingFaultUpstream {
	t.Helper()
	f := &pagingFaultUpstream{pageSize: pageSize}
	for i := range n {
		f.entries = append(f.entries, v1.Descriptor{
			MediaType:    v1.MediaTypeImageManifest,
			ArtifactType: "application/example",
			Digest:       digest.FromString("referrer " + strconv.Itoa(i)),
			Size:         100,
		})
	}
	slices.SortFunc(f.entries, func(a, b v1.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	if tls {
		f.srv = httptest.NewTLSServer(f)
	} else {
		f.srv = httptest.NewServer(f)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *pagingFaultUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.URL.Path == "/token" {
		if u, p, ok := r.BasicAuth(); !ok || u != fakeUser || p != fakePassword {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.logins.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{"token": fakeToken})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeToken {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s://%s/token",service="fake"`, scheme, r.Host))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !strings.Contains(r.URL.Path, "/referrers/") {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	last := r.URL.Query().Get("last")
	if last == "" {
		f.listings.Add(1)
		time.Sleep(f.delay)
	}
	if last != "" && f.failNext {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	i := 0
	for i < len(f.entries) && last != "" && string(f.entries[i].Digest) <= last {
		i++
	}
	page := f.entries[i:min(i+f.pageSize, len(f.entries))]
	if i+len(page) < len(f.entries) {
		w.Header().Set("Link", fmt.Sprintf(`<%s?last=%s>; rel="next"`, r.URL.Path, page[len(page)-1].Digest))
	}
	w.Header().Set("Content-Type", v1.MediaTypeImageIndex)
	_ = json.NewEncoder(w).Encode(v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: page})
}

// client is the cache's upstream client for f, with its credentials.
func (f *pagingFaultUpstream) client(t *testing.T, remoteURL string) *upstreamReferrers {
	t.Helper()
	u, err := newUpstreamReferrers(configuration.Proxy{RemoteURL: remoteURL, Username: fakeUser, Password: fakePassword}, "proxy.remote_url", f.srv.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *pagingFaultUpstream) digests() []digest.Digest {
	var out []digest.Digest
	for _, d := range f.entries {
		out = append(out, d.Digest)
	}
	return out
}

var testSubject = digest.FromString("subject")

func TestUpstreamReferrersPages(t *testing.T) {
	tests := []struct {
		name         string
		n, pageSize  int
		wantN        int
		wantComplete bool
	}{
		{"one page", 3, 10, 3, true},
		{"many pages", 25, 10, 25, true},
		{"empty", 0, 10, 0, true},
		{"more pages than read", maxUpstreamPages + 5, 1, maxUpstreamPages, false},
		{"more entries than read", maxUpstreamReferrers + 500, 1000, maxUpstreamReferrers, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newPagingFaultUpstream(t, true, tc.n, tc.pageSize)
			c := f.client(t, f.srv.URL)
			for range 2 {
				descs, complete, err := c.Referrers(context.Background(), "lab/app", testSubject)
				if err != nil {
					t.Fatal(err)
				}
				if len(descs) != tc.wantN || complete != tc.wantComplete {
					t.Fatalf("%d referrers, complete %v; want %d, %v", len(descs), complete, tc.wantN, tc.wantComplete)
				}
				if tc.wantComplete && !slices.Equal(digestsOf(descs), f.digests()) {
					t.Fatalf("referrers %v, want %v", digestsOf(descs), f.digests())
				}
			}
			// Two listings, one login: the token is kept.
			if got := f.logins.Load(); got != 1 {
				t.Errorf("%d logins at the upstream for two listings, want 1", got)
			}
		})
	}
}

func digestsOf(descs []v1.Descriptor) []digest.Digest {
	var out []digest.Digest
	for _, d := range descs {
		out = append(out, d.Digest)
	}
	return out
}

// TestUpstreamReferrersPlainHTTP: an https upstream gets nothing over
// plain http, though go-containerregistry falls back to it for a loopback
// or private address whose https fails (here: a plain http server).
func TestUpstreamReferrersPlainHTTP(t *testing.T) {
	f := newPagingFaultUpstream(t, false, 3, 10)
	u, _ := url.Parse(f.srv.URL)
	c := f.client(t, "https://"+u.Host)
	_, _, err := c.Referrers(context.Background(), "lab/app", testSubject)
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("listing at an https upstream answering in plain http: %v, want a refusal", err)
	}
	if got := f.requests.Load(); got != 0 {
		t.Errorf("the upstream got %d plain http requests, want none", got)
	}

}

// cacheHandler is the referrers API of a cache of f, on an in-memory store
// holding local.
func cacheHandler(t *testing.T, f *pagingFaultUpstream, local ...v1.Descriptor) (http.Handler, *referrers.Store) {
	t.Helper()
	store := referrers.NewStore(inmemory.New())
	for _, d := range local {
		if err := store.Add(context.Background(), "lab/app", referrers.Referrer{Subject: testSubject, Descriptor: d}); err != nil {
			t.Fatal(err)
		}
	}
	h := referrers.New(referrers.Options{Store: store, Upstream: f.client(t, f.srv.URL)}, http.NotFoundHandler())
	return h, store
}

func listAt(t *testing.T, h http.Handler) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/lab/app/referrers/"+testSubject.String(), nil))
	return rec.Code
}

// TestCacheReferrersSync: the cache's index becomes the upstream's whole
// list, later pages included, and loses an entry gone upstream; when the
// upstream's list is too long to read whole, nothing is removed.
func TestCacheReferrersSync(t *testing.T) {
	gone := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("gone upstream"), Size: 1}
	t.Run("whole list", func(t *testing.T) {
		f := newPagingFaultUpstream(t, true, 25, 10)
		// One entry of the upstream's last page is already held.
		h, store := cacheHandler(t, f, gone, f.entries[24])
		if code := listAt(t, h); code != http.StatusOK {
			t.Fatalf("listing: %d", code)
		}
		got, err := store.List(context.Background(), "lab/app", testSubject)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, f.digests()) {
			t.Fatalf("cache's index %v (%d), want the upstream's %d entries over 3 pages", got, len(got), len(f.entries))
		}
	})
	t.Run("cut list", func(t *testing.T) {
		f := newPagingFaultUpstream(t, true, maxUpstreamPages+5, 1)
		h, store := cacheHandler(t, f, gone)
		if code := listAt(t, h); code != http.StatusOK {
			t.Fatalf("listing: %d", code)
		}
		got, err := store.List(context.Background(), "lab/app", testSubject)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != maxUpstreamPages+1 || !slices.Contains(got, gone.Digest) {
			t.Fatalf("cache's index has %d entries (the local one kept: %v), want the %d read and the local one", len(got), slices.Contains(got, gone.Digest), maxUpstreamPages)
		}
	})
}

// TestCacheReferrersSyncPartial: when a later page fails, what was read
// is added and nothing removed.
func TestCacheReferrersSyncPartial(t *testing.T) {
	gone := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("gone upstream"), Size: 1}
	f := newPagingFaultUpstream(t, true, 25, 10)
	f.failNext = true
	h, store := cacheHandler(t, f, gone)
	if code := listAt(t, h); code != http.StatusOK {
		t.Fatalf("listing: %d", code)
	}
	got, err := store.List(context.Background(), "lab/app", testSubject)
	if err != nil {
		t.Fatal(err)
	}
	want := append(f.digests()[:10], gone.Digest)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("cache's index %v, want the first page's 10 entries and the local one", got)
	}
}

// TestCacheReferrersBurst: concurrent listings of one subject make one
// upstream listing and one login between them.
func TestCacheReferrersBurst(t *testing.T) {
	f := newPagingFaultUpstream(t, true, 25, 10)
	f.delay = 200 * time.Millisecond
	h, _ := cacheHandler(t, f)
	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() { codes[i] = listAt(t, h) })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("listing %d: %d", i, c)
		}
	}
	if got := f.listings.Load(); got != 1 {
		t.Errorf("%d concurrent listings made %d upstream listings, want 1", n, got)
	}
	if got := f.logins.Load(); got != 1 {
		t.Errorf("%d concurrent listings made %d upstream logins, want 1", n, got)
	}
	// Right after, still one.
	listAt(t, h)
	if got := f.listings.Load(); got != 1 {
		t.Errorf("a listing right after the burst made %d upstream listings in all, want 1", got)
	}
}
