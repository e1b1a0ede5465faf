package digestalias_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/registry"
)

// TestGarbageCollectSHA512: garbage-collect keeps the blobs a manifest
// refers to by sha512 (stored under sha256), removes those nothing refers
// to, and the sha512 digests of what it removed.
func TestGarbageCollectSHA512(t *testing.T) {
	r, cfg := newRegistry(t)
	const mt = "application/vnd.oci.image.manifest.v1+json"
	push := func(repo string, blobs ...[]byte) {
		for _, b := range blobs {
			if w := pushBlob(t, r, repo, b, digest.SHA512.FromBytes(b)); w.Code != http.StatusCreated {
				t.Fatalf("push blob to %s: %d %s", repo, w.Code, w.Body)
			}
		}
	}
	putManifest := func(repo string, man []byte) digest.Digest {
		d := digest.SHA512.FromBytes(man)
		if w := do(t, r, "PUT", "/v2/"+repo+"/manifests/"+d.String(), man, "Content-Type", mt); w.Code != http.StatusCreated {
			t.Fatalf("put manifest to %s: %d %s", repo, w.Code, w.Body)
		}
		return d
	}
	keepCfg, keepLayer := []byte(`{"os":"linux","keep":true}`), []byte("kept layer")
	push("gc/keep", keepCfg, keepLayer)
	keep := putManifest("gc/keep", ociManifest(keepCfg, keepLayer))
	orphan := []byte("pushed, never referenced")
	push("gc/keep", orphan)
	dropCfg, dropLayer := []byte(`{"os":"linux","keep":false}`), []byte("dropped layer")
	push("gc/drop", dropCfg, dropLayer)
	drop := putManifest("gc/drop", ociManifest(dropCfg, dropLayer))
	if w := do(t, r, "DELETE", "/v2/gc/drop/manifests/"+drop.String(), nil); w.Code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if err := r.Shutdown(); err != nil {
		t.Fatal(err)
	}

	res, err := registry.GarbageCollect(context.Background(), cfg, registry.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The orphan, and the dropped image's config, layer and manifest.
	if removed := res.BlobsBefore - res.BlobsAfter; removed != 4 {
		t.Errorf("removed %d blobs (%d -> %d), want 4", removed, res.BlobsBefore, res.BlobsAfter)
	}
	// The orphan's and the dropped config's and layer's sha512 links.
	if res.AliasesRemoved != 3 {
		t.Errorf("removed %d sha512 digests, want 3", res.AliasesRemoved)
	}

	r2, _ := registry.New(context.Background(), cfg, registry.Options{})
	defer r2.Shutdown()
	wantDigest(t, "kept manifest", do(t, r2, "GET", "/v2/gc/keep/manifests/"+keep.String(), nil, "Accept", mt), http.StatusOK, keep)
	for _, b := range [][]byte{keepCfg, keepLayer} {
		w := do(t, r2, "GET", "/v2/gc/keep/blobs/"+digest.SHA512.FromBytes(b).String(), nil)
		wantDigest(t, "kept blob", w, http.StatusOK, digest.SHA512.FromBytes(b))
		if w.Body.String() != string(b) {
			t.Errorf("kept blob: body %q, want %q", w.Body, b)
		}
	}
	for repo, b := range map[string][]byte{"gc/keep": orphan, "gc/drop": dropLayer} {
		if w := do(t, r2, "GET", "/v2/"+repo+"/blobs/"+digest.SHA512.FromBytes(b).String(), nil); w.Code != http.StatusNotFound {
			t.Errorf("collected blob %q in %s: %d, want 404", b, repo, w.Code)
		}
	}
	// A second run finds nothing more.
	res, err = registry.GarbageCollect(context.Background(), cfg, registry.GCOptions{})
	if err != nil || res.BlobsBefore != res.BlobsAfter || res.AliasesRemoved != 0 {
		t.Errorf("second run: %+v, %v; want nothing removed", res, err)
	}
}

// TestGarbageCollectUntaggedSHA512: with --delete-untagged, an image a
// tagged index names by sha512 stays, an untagged one pushed by sha512
// goes.
func TestGarbageCollectUntaggedSHA512(t *testing.T) {
	r, cfg := newRegistry(t)
	const mt, it = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"
	image := func(nonce string) (digest.Digest, []byte) {
		c, l := []byte(`{"os":"linux","n":"`+nonce+`"}`), []byte("layer "+nonce)
		for _, b := range [][]byte{c, l} {
			if w := pushBlob(t, r, "gc/app", b, digest.SHA512.FromBytes(b)); w.Code != http.StatusCreated {
				t.Fatalf("push blob: %d %s", w.Code, w.Body)
			}
		}
		man := ociManifest(c, l)
		d := digest.SHA512.FromBytes(man)
		if w := do(t, r, "PUT", "/v2/gc/app/manifests/"+d.String(), man, "Content-Type", mt); w.Code != http.StatusCreated {
			t.Fatalf("put manifest: %d %s", w.Code, w.Body)
		}
		return d, man
	}
	child, childBody := image("child")
	loose, _ := image("loose")
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"os":"linux","architecture":"amd64"}}]}`,
		it, mt, child, len(childBody))
	if w := do(t, r, "PUT", "/v2/gc/app/manifests/v1", []byte(index), "Content-Type", it); w.Code != http.StatusCreated {
		t.Fatalf("put index: %d %s", w.Code, w.Body)
	}
	if err := r.Shutdown(); err != nil {
		t.Fatal(err)
	}
	res, err := registry.GarbageCollect(context.Background(), cfg, registry.GCOptions{RemoveUntagged: true})
	if err != nil {
		t.Fatal(err)
	}
	// The loose image: manifest, config, layer.
	if removed := res.BlobsBefore - res.BlobsAfter; removed != 3 {
		t.Errorf("removed %d blobs, want 3", removed)
	}
	r2, _ := registry.New(context.Background(), cfg, registry.Options{})
	defer r2.Shutdown()
	wantDigest(t, "child of a tagged index", do(t, r2, "GET", "/v2/gc/app/manifests/"+child.String(), nil, "Accept", mt), http.StatusOK, child)
	if w := do(t, r2, "GET", "/v2/gc/app/manifests/"+loose.String(), nil, "Accept", mt); w.Code != http.StatusNotFound {
		t.Errorf("untagged image: %d, want 404", w.Code)
	}
}
