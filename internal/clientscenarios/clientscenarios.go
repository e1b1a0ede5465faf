// Package clientscenarios are the registry client scenarios shared by the
// no-auth, Keycloak and UI end-to-end tests: push and pull an image, an index
// and an artifact, list the catalog and tags, delete by digest. Each talks to
// the registry only through go-containerregistry, the way real clients do;
// opts carry the credentials.
package clientscenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PushPullImage pushes a random multi-layer image, pulls it back and checks
// every digest.
func PushPullImage(t *testing.T, ctx context.Context, ref name.Tag, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := random.Image(256<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, remote.WithContext(ctx))
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	got, err := remote.Image(ref, opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	wantDigest, _ := img.Digest()
	gotDigest, err := got.Digest()
	if err != nil || gotDigest != wantDigest {
		t.Fatalf("pulled digest %v (%v), want %v", gotDigest, err, wantDigest)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) != 3 {
		t.Fatalf("pulled %d layers (%v), want 3", len(layers), err)
	}
	for _, l := range layers {
		want, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("pull layer %v: %v", want, err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || h != want {
			t.Fatalf("layer content hashes to %v (%v), want %v", h, err, want)
		}
	}
	return img
}

// PushPullIndex pushes an OCI image index with two platforms and checks the
// pulled index and each child.
func PushPullIndex(t *testing.T, ctx context.Context, ref name.Tag, opts ...remote.Option) v1.ImageIndex {
	t.Helper()
	opts = append(opts, remote.WithContext(ctx))
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(64<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		platform := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	got, err := remote.Index(ref, opts...)
	if err != nil {
		t.Fatalf("pull index %s: %v", ref, err)
	}
	want, _ := idx.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("index digest %v, want %v", d, want)
	}
	m, err := got.IndexManifest()
	if err != nil || len(m.Manifests) != 2 {
		t.Fatalf("index has %d manifests (%v), want 2", len(m.Manifests), err)
	}
	for _, desc := range m.Manifests {
		child, err := got.Image(desc.Digest)
		if err != nil {
			t.Fatalf("child %v: %v", desc.Digest, err)
		}
		if d, _ := child.Digest(); d != desc.Digest {
			t.Fatalf("child digest %v, want %v", d, desc.Digest)
		}
	}
	return idx
}

// rawManifest lets remote.Put push a hand-built manifest.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// ArtifactType is the custom artifact type used by PushPullArtifact.
const ArtifactType = "application/vnd.registry-stack.test.sbom.v1+json"

// PushPullArtifact pushes an OCI artifact (empty config, custom
// artifactType) and checks the manifest comes back byte for byte.
func PushPullArtifact(t *testing.T, ctx context.Context, ref name.Tag, opts ...remote.Option) v1.Hash {
	t.Helper()
	opts = append(opts, remote.WithContext(ctx))
	emptyCfg := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	payload := static.NewLayer([]byte(`{"spdxVersion":"SPDX-2.3","name":"registry-stack-test"}`), "application/spdx+json")
	for _, l := range []v1.Layer{emptyCfg, payload} {
		if err := remote.WriteLayer(ref.Repository, l, opts...); err != nil {
			t.Fatalf("push artifact blob: %v", err)
		}
	}
	desc := func(l v1.Layer) v1.Descriptor {
		d, _ := l.Digest()
		s, _ := l.Size()
		mt, _ := l.MediaType()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: s}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        desc(emptyCfg),
		Layers:        []v1.Descriptor{desc(payload)},
		Annotations:   map[string]string{"org.opencontainers.image.title": "sbom"},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{body: body, mt: types.OCIManifestSchema1}, opts...); err != nil {
		t.Fatalf("push artifact manifest: %v", err)
	}
	got, err := remote.Get(ref, opts...)
	if err != nil {
		t.Fatalf("pull artifact: %v", err)
	}
	if !bytes.Equal(got.Manifest, body) {
		t.Fatalf("artifact manifest changed in the registry:\n got %s\nwant %s", got.Manifest, body)
	}
	var back v1.Manifest
	if err := json.Unmarshal(got.Manifest, &back); err != nil || back.ArtifactType != ArtifactType {
		t.Fatalf("artifactType %q (%v), want %q", back.ArtifactType, err, ArtifactType)
	}
	blob, err := remote.Layer(ref.Context().Digest(desc(payload).Digest.String()), opts...)
	if err != nil {
		t.Fatalf("pull artifact blob: %v", err)
	}
	rc, err := blob.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(data, []byte("SPDX-2.3")) {
		t.Fatalf("artifact blob content %q", data)
	}
	return got.Digest
}

// CheckCatalogAndTags asserts the catalog lists repos and repo lists tags.
func CheckCatalogAndTags(t *testing.T, ctx context.Context, reg name.Registry, repos []string, repo name.Repository, tags []string, opts ...remote.Option) {
	t.Helper()
	opts = append(opts, remote.WithContext(ctx))
	cat, err := remote.Catalog(ctx, reg, opts...)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	for _, r := range repos {
		if !slices.Contains(cat, r) {
			t.Errorf("catalog %v lacks %q", cat, r)
		}
	}
	got, err := remote.List(repo, opts...)
	if err != nil {
		t.Fatalf("tag list %s: %v", repo, err)
	}
	slices.Sort(got)
	want := slices.Clone(tags)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tags of %s = %v, want %v", repo, got, want)
	}
}

// DeleteByDigest deletes ref's manifest by digest and checks it is gone.
func DeleteByDigest(t *testing.T, ctx context.Context, ref name.Tag, opts ...remote.Option) {
	t.Helper()
	opts = append(opts, remote.WithContext(ctx))
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		t.Fatalf("head %s: %v", ref, err)
	}
	dref := ref.Context().Digest(desc.Digest.String())
	if err := remote.Delete(dref, opts...); err != nil {
		t.Fatalf("delete %s: %v", dref, err)
	}
	if _, err := remote.Head(dref, opts...); err == nil {
		t.Fatalf("%s still served after delete", dref)
	}
}

// ReferrerDigests lists the referrers of subject (the first page) by
// digest.
func ReferrerDigests(t *testing.T, ctx context.Context, subject name.Digest, opts ...remote.Option) []v1.Hash {
	t.Helper()
	idx, err := remote.Referrers(subject, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
	if err != nil {
		t.Fatalf("referrers of %s: %v", subject, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, d := range m.Manifests {
		out = append(out, d.Digest)
	}
	return out
}
