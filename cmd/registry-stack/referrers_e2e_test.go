package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

func (l clientLogin) auth() authn.Authenticator {
	if l.user == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: l.user, Password: l.password}
}

// registryClient is an HTTP client that gets and sends tokens for push and
// pull on repo, for requests go-containerregistry has no call for.
func registryClient(t *testing.T, ctx context.Context, repo name.Repository, l clientLogin) *http.Client {
	t.Helper()
	tr, err := transport.NewWithContext(ctx, repo.Registry, l.auth(), http.DefaultTransport, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		t.Fatalf("registry transport: %v", err)
	}
	return &http.Client{Transport: tr}
}

// artifact is an OCI artifact manifest (empty config and layer) with
// artifactType and a subject, in raw form.
func artifact(artifactType string, subject v1.Descriptor, annotations map[string]string) []byte {
	emptyDesc := map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2}
	b, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": artifactType,
		"config": emptyDesc, "layers": []any{emptyDesc}, "subject": subject, "annotations": annotations,
	})
	return b
}

// putManifest PUTs a raw OCI manifest by digest and returns the answer's
// OCI-Subject header.
func putManifest(ctx context.Context, c *http.Client, repo name.Repository, body []byte) (string, v1.Hash, error) {
	h, _, _ := v1.SHA256(strings.NewReader(string(body)))
	u := fmt.Sprintf("http://%s/v2/%s/manifests/%s", repo.RegistryStr(), repo.RepositoryStr(), h)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, strings.NewReader(string(body)))
	if err != nil {
		return "", h, err
	}
	req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
	resp, err := c.Do(req)
	if err != nil {
		return "", h, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", h, fmt.Errorf("PUT %s: %s", u, resp.Status)
	}
	return resp.Header.Get("OCI-Subject"), h, nil
}

// listAll follows the referrers listing of subject page by page; it
// returns every descriptor, the number of pages and the first answer's
// OCI-Filters-Applied.
func listAll(t *testing.T, ctx context.Context, c *http.Client, repo name.Repository, subject v1.Hash, query string) ([]v1.Descriptor, int, string) {
	t.Helper()
	next := fmt.Sprintf("http://%s/v2/%s/referrers/%s%s", repo.RegistryStr(), repo.RepositoryStr(), subject, query)
	var all []v1.Descriptor
	pages, filters := 0, ""
	for next != "" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var idx v1.IndexManifest
		err = json.NewDecoder(resp.Body).Decode(&idx)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || resp.Header.Get("Content-Type") != string(types.OCIImageIndex) || idx.MediaType != types.OCIImageIndex {
			t.Fatalf("GET %s: %s %q %v", next, resp.Status, resp.Header.Get("Content-Type"), err)
		}
		if pages == 0 {
			filters = resp.Header.Get("OCI-Filters-Applied")
		}
		pages++
		all = append(all, idx.Manifests...)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			ref, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
			if err != nil {
				t.Fatalf("Link %q: %v", link, err)
			}
			next = resp.Request.URL.ResolveReference(ref).String()
		}
	}
	return all, pages, filters
}

// TestReferrers: the referrers API with go-containerregistry in every auth
// mode: OCI-Subject on push, remote.Referrers, the artifactType filter,
// pagination past the page size (1000; -short: pages of 4), a referrer pushed before its
// subject, deleting a referrer, and pull access required to list.
func TestReferrers(t *testing.T) {
	inEachAuthMode(t, "", func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin) {
		reg, _ := name.NewRegistry(st.Addr, name.Insecure)
		repo := reg.Repo(l.namespace, "signed")
		opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(l.auth())}
		img := clientscenarios.PushPullImage(t, ctx, repo.Tag("v1"), opts...)
		subject, err := partialDescriptor(img)
		if err != nil {
			t.Fatal(err)
		}

		// A signature as go-containerregistry builds one: it would add a
		// sha256-<hex> fallback tag if the registry did not answer with
		// OCI-Subject.
		base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.example.signature")
		base, err = mutate.AppendLayers(base, static.NewLayer([]byte("signature"), "application/vnd.example.signature.payload"))
		if err != nil {
			t.Fatal(err)
		}
		sig := mutate.Subject(base, subject).(v1.Image)
		sigDigest, _ := sig.Digest()
		if err := remote.Write(repo.Digest(sigDigest.String()), sig, opts...); err != nil {
			t.Fatalf("push signature: %v", err)
		}
		tags, err := remote.List(repo, opts...)
		if err != nil || !slices.Equal(tags, []string{"v1"}) {
			t.Errorf("tags %v (%v); want only v1, no referrers fallback tag", tags, err)
		}

		c := registryClient(t, ctx, repo, l)
		if err := remote.WriteLayer(repo, static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json"), opts...); err != nil {
			t.Fatal(err)
		}
		got, sbom, err := putManifest(ctx, c, repo, artifact("application/spdx+json", subject, map[string]string{"org.opencontainers.image.created": "2026-12-01T00:00:00Z"}))
		if err != nil || got != subject.Digest.String() {
			t.Fatalf("SBOM push: OCI-Subject %q (%v), want %s", got, err, subject.Digest)
		}

		idx, err := remote.Referrers(repo.Digest(subject.Digest.String()), opts...)
		if err != nil {
			t.Fatalf("remote.Referrers: %v", err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		found := map[v1.Hash]v1.Descriptor{}
		for _, d := range im.Manifests {
			found[d.Digest] = d
		}
		if len(found) != 2 || found[sigDigest].ArtifactType != "application/vnd.example.signature" ||
			found[sbom].ArtifactType != "application/spdx+json" || found[sbom].Annotations["org.opencontainers.image.created"] == "" {
			t.Errorf("remote.Referrers: %+v", im.Manifests)
		}

		descs, _, filters := listAll(t, ctx, c, repo, subject.Digest, "?artifactType=application/spdx%2Bjson")
		if len(descs) != 1 || descs[0].Digest != sbom || filters != "artifactType" {
			t.Errorf("artifactType filter: %+v, OCI-Filters-Applied %q", descs, filters)
		}

		// More referrers than one page holds (the page size is 1000; the
		// quick checks ask for pages of 4 instead).
		bulk, query := 1000, ""
		if testing.Short() {
			bulk, query = 5, "?n=4"
		}
		var wg sync.WaitGroup
		errs := make([]error, bulk)
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < bulk; i += 8 {
					_, _, errs[i] = putManifest(ctx, c, repo, artifact("application/vnd.example.bulk", subject, map[string]string{"i": fmt.Sprint(i)}))
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		descs, pages, _ := listAll(t, ctx, c, repo, subject.Digest, query)
		if len(descs) != bulk+2 || pages != 2 {
			t.Errorf("listed %d referrers over %d pages, want %d over 2", len(descs), pages, bulk+2)
		}

		// Deleting a referrer takes it off the list.
		if err := remote.Delete(repo.Digest(sbom.String()), opts...); err != nil {
			t.Fatal(err)
		}
		if descs, _, _ := listAll(t, ctx, c, repo, subject.Digest, "?artifactType=application/spdx%2Bjson"); len(descs) != 0 {
			t.Errorf("deleted SBOM still listed: %+v", descs)
		}

		// A referrer may arrive before its subject.
		later, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		laterDesc, _ := partialDescriptor(later)
		if _, early, err := putManifest(ctx, c, repo, artifact("application/vnd.example.signature", laterDesc, nil)); err != nil {
			t.Fatal(err)
		} else if descs, _, _ := listAll(t, ctx, c, repo, laterDesc.Digest, ""); len(descs) != 1 || descs[0].Digest != early {
			t.Errorf("referrer before subject: %+v", descs)
		}
		if err := remote.Write(repo.Tag("later"), later, opts...); err != nil {
			t.Fatal(err)
		}
		if descs, _, _ := listAll(t, ctx, c, repo, laterDesc.Digest, ""); len(descs) != 1 {
			t.Errorf("after pushing the subject: %+v", descs)
		}

		// Listing needs pull on the repository.
		if l.user != "" {
			_, err := remote.Referrers(repo.Digest(subject.Digest.String()), remote.WithContext(ctx))
			var terr *transport.Error
			if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
				t.Errorf("anonymous listing: %v, want 401", err)
			}
		}
		if l.namespace == "team-a" { // oidc: alice may not pull team-b
			other := reg.Repo("team-b", "app")
			_, err := remote.Referrers(other.Digest(subject.Digest.String()), opts...)
			var terr *transport.Error
			if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
				t.Errorf("alice listing team-b: %v, want 401", err)
			}
		}
	})
}

// partialDescriptor is the descriptor of an image's manifest.
func partialDescriptor(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}
