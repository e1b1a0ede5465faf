package referrers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/registry-stack/registry-stack/internal/referrers"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
)

// quantiles returns p50 and p99 of d in milliseconds.
func quantiles(d []time.Duration) (float64, float64) {
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	return ms(d[len(d)/2]), ms(d[len(d)*99/100])
}

// BenchmarkList: the latency of one referrers listing (GET over HTTP,
// filesystem storage) of a subject with 1, 100 and 1,000 referrers; the
// figure is referrers_list_<n>. The first listing reads every entry; the
// following ones find the descriptors in the cache and list the directory
// only, as a listing after a restart or on another replica would after its
// first.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("referrers=%d", n), func(b *testing.B) {
			srv := testRegistry(b, referrers.Options{})
			subject := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 1}
			push(b, srv, "bench/app", "seed", manifest("", nil, nil)) // the empty blob
			for i := range n {
				body := manifest("application/x-sig", subject, map[string]string{"i": fmt.Sprint(i)})
				if r := put(b, srv, "/v2/bench/app/manifests/"+digest.FromBytes(body).String(), body); r.StatusCode != http.StatusCreated {
					b.Fatalf("push: %s", r.Status)
				}
			}
			u := srv.URL + "/v2/bench/app/referrers/" + subject.Digest.String()
			// The first listing reads every entry from the storage.
			start := time.Now()
			r, err := http.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			var first v1.Index
			if err := jsonDecode(r, &first); err != nil || len(first.Manifests) != n {
				b.Fatalf("listed %d (%v), want %d", len(first.Manifests), err, n)
			}
			testartifacts.Figure(b, fmt.Sprintf("referrers_list_%d_first", n), fmt.Sprintf("%.2f ms", float64(time.Since(start))/float64(time.Millisecond)))
			var d []time.Duration
			for b.Loop() {
				start := time.Now()
				r, err := http.Get(u)
				if err != nil {
					b.Fatal(err)
				}
				var idx v1.Index
				err = jsonDecode(r, &idx)
				d = append(d, time.Since(start))
				if err != nil || len(idx.Manifests) != n {
					b.Fatalf("listed %d (%v), want %d", len(idx.Manifests), err, n)
				}
			}
			p50, p99 := quantiles(d)
			testartifacts.Figure(b, fmt.Sprintf("referrers_list_%d", n), fmt.Sprintf("p50 %.2f ms, p99 %.2f ms over %d listings", p50, p99, len(d)))
		})
	}
}

// BenchmarkManifestPut: a manifest PUT with a subject (recorded in the
// index, answered with OCI-Subject) against one without, alternating on one
// registry so that both see the same machine load; the figures are
// manifest_put_plain and manifest_put_subject.
func BenchmarkManifestPut(b *testing.B) {
	subject := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 1}
	srv := testRegistry(b, referrers.Options{})
	push(b, srv, "bench/app", "seed", manifest("", nil, nil)) // the empty blob
	kinds := []struct {
		name    string
		subject *v1.Descriptor
	}{{"plain", nil}, {"subject", subject}}
	d := make([][]time.Duration, len(kinds))
	i := 0
	for b.Loop() {
		i++
		for k, kind := range kinds {
			body := manifest("application/x-sig", kind.subject, map[string]string{"i": fmt.Sprint(i)})
			start := time.Now()
			r := put(b, srv, "/v2/bench/app/manifests/"+digest.FromBytes(body).String(), body)
			d[k] = append(d[k], time.Since(start))
			if r.StatusCode != http.StatusCreated || (kind.subject != nil) != (r.Header.Get("OCI-Subject") != "") {
				b.Fatalf("%s, OCI-Subject %q", r.Status, r.Header.Get("OCI-Subject"))
			}
		}
	}
	for k, kind := range kinds {
		p50, p99 := quantiles(d[k])
		testartifacts.Figure(b, "manifest_put_"+kind.name, fmt.Sprintf("p50 %.2f ms, p99 %.2f ms over %d PUTs", p50, p99, len(d[k])))
	}
}

func put(b testing.TB, srv *httptest.Server, path string, body []byte) *http.Response {
	req, _ := http.NewRequest(http.MethodPut, srv.URL+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", v1.MediaTypeImageManifest)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	r.Body.Close()
	return r
}
