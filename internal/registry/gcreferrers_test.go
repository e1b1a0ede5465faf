package registry

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/registry-stack/registry-stack/internal/referrers"
)

// gcFixture is a registry with the referrers API in front, served to
// requests in-process.
type gcFixture struct {
	t   *testing.T
	reg *Registry
	h   http.Handler
}

func (f *gcFixture) do(method, target, contentType, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

// blob uploads content to repo.
func (f *gcFixture) blob(repo, content string) v1.Descriptor {
	f.t.Helper()
	w := f.do("POST", "/v2/"+repo+"/blobs/uploads/", "", "")
	loc := w.Header().Get("Location")
	dgst := digest.FromString(content)
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	if w := f.do("PUT", strings.TrimPrefix(loc, "http://example.com")+sep+"digest="+dgst.String(), "application/octet-stream", content); w.Code != http.StatusCreated {
		f.t.Fatalf("blob upload: %d %s", w.Code, w.Body)
	}
	return v1.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: dgst, Size: int64(len(content))}
}

// manifest pushes an image manifest with its own layer (content) to
// repo:ref (ref empty: by digest), with a subject when subject is set.
func (f *gcFixture) manifest(repo, ref, content string, subject digest.Digest) digest.Digest {
	f.t.Helper()
	cfg := f.blob(repo, "{}")
	cfg.MediaType = "application/vnd.oci.empty.v1+json"
	m := map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageManifest, "config": cfg, "layers": []v1.Descriptor{f.blob(repo, content)}}
	if subject != "" {
		m["subject"] = v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: subject, Size: 100}
		m["artifactType"] = "application/x-signature"
	}
	b, _ := json.Marshal(m)
	d := digest.FromBytes(b)
	if ref == "" {
		ref = d.String()
	}
	if w := f.do("PUT", "/v2/"+repo+"/manifests/"+ref, v1.MediaTypeImageManifest, string(b)); w.Code != http.StatusCreated {
		f.t.Fatalf("manifest put: %d %s", w.Code, w.Body)
	}
	return d
}

// TestGarbageCollectReferrers: garbage collection never removes a referrer
// of a live manifest, removes referrers whose subject is gone, and leaves
// the index naming only live manifests.
func TestGarbageCollectReferrers(t *testing.T) {
	tests := []struct {
		name           string
		removeUntagged bool
	}{
		{"keeps untagged manifests", false},
		{"delete untagged", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig(t, "")
			reg, err := New(ctx, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			f := &gcFixture{t: t, reg: reg, h: referrers.New(referrers.Options{Store: reg.Referrers(), Manifests: reg}, reg)}
			const repo = "team/app"
			image := f.manifest(repo, "v1", "image", "")
			sig := f.manifest(repo, "", "signature", image)
			sigOfSig := f.manifest(repo, "", "countersignature", sig)
			untagged := f.manifest(repo, "", "untagged", "")
			deleted := f.manifest(repo, "gone", "deleted", "")
			sigOfDeleted := f.manifest(repo, "", "signature of deleted", deleted)
			missing := digest.FromString("never pushed")
			orphan := f.manifest(repo, "", "referrer of a missing subject", missing)
			if w := f.do("DELETE", "/v2/"+repo+"/manifests/"+deleted.String(), "", ""); w.Code != http.StatusAccepted {
				t.Fatalf("delete: %d", w.Code)
			}
			// A list emptied by deleting its only referrer.
			lonely := f.manifest(repo, "lonely", "lonely", "")
			lonelySig := f.manifest(repo, "", "lonely signature", lonely)
			if w := f.do("DELETE", "/v2/"+repo+"/manifests/"+lonelySig.String(), "", ""); w.Code != http.StatusAccepted {
				t.Fatalf("delete: %d", w.Code)
			}
			// A referrer the index does not know (pushed around the API).
			unindexed := f.manifest(repo, "", "unindexed signature", image)
			if err := reg.Referrers().Remove(ctx, repo, image, unindexed); err != nil {
				t.Fatal(err)
			}
			_ = reg.Shutdown()

			res, err := GarbageCollect(ctx, cfg, GCOptions{RemoveUntagged: tc.removeUntagged})
			if err != nil {
				t.Fatal(err)
			}
			var removed []digest.Digest
			for _, m := range res.ManifestsRemoved {
				removed = append(removed, m.Digest)
			}
			want := []digest.Digest{sigOfDeleted, orphan}
			if tc.removeUntagged {
				want = append(want, untagged)
			}
			slices.Sort(removed)
			slices.Sort(want)
			if !slices.Equal(removed, want) {
				t.Errorf("removed %v, want %v", removed, want)
			}
			if res.ReferrerEntriesAdded != 1 {
				t.Errorf("entries added %d, want 1 (the unindexed signature)", res.ReferrerEntriesAdded)
			}

			reg2, err := New(ctx, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = reg2.Shutdown() }()
			for _, c := range []struct {
				subject digest.Digest
				want    []digest.Digest
			}{
				{image, []digest.Digest{sig, unindexed}},
				{sig, []digest.Digest{sigOfSig}},
				{deleted, nil},
				{missing, nil},
			} {
				got, err := reg2.Referrers().List(ctx, repo, c.subject)
				slices.Sort(c.want)
				if err != nil || !slices.Equal(got, c.want) {
					t.Errorf("referrers of %s: %v %v, want %v", c.subject, got, err, c.want)
				}
			}
			index, err := reg2.Referrers().Index(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			if subjects := slices.Sorted(maps.Keys(index)); !slices.Equal(subjects, slices.Sorted(slices.Values([]digest.Digest{image, sig}))) {
				t.Errorf("lists left in the index: %v, want those of %s and %s only", subjects, image, sig)
			}
			for _, d := range []digest.Digest{image, sig, sigOfSig, unindexed, lonely} {
				if _, _, err := reg2.Manifest(ctx, repo, d); err != nil {
					t.Errorf("live manifest %s: %v", d, err)
				}
			}
			for _, d := range want {
				if _, _, err := reg2.Manifest(ctx, repo, d); err == nil {
					t.Errorf("garbage manifest %s still there", d)
				}
			}
		})
	}
}
