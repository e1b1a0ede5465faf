package clientscenarios

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// sha512Blob is a blob go-containerregistry uploads and names by its sha512
// digest (its own layers are always sha256).
type sha512Blob struct {
	content []byte
	mt      types.MediaType
}

func newSHA512Blob(mt types.MediaType, content []byte) sha512Blob {
	return sha512Blob{content: content, mt: mt}
}

func (b sha512Blob) Digest() (v1.Hash, error) { return sha512Of(b.content), nil }
func (b sha512Blob) DiffID() (v1.Hash, error) { return b.Digest() }
func (b sha512Blob) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.content)), nil
}
func (b sha512Blob) Uncompressed() (io.ReadCloser, error) { return b.Compressed() }
func (b sha512Blob) Size() (int64, error)                 { return int64(len(b.content)), nil }
func (b sha512Blob) MediaType() (types.MediaType, error)  { return b.mt, nil }

func (b sha512Blob) descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: b.mt, Digest: sha512Of(b.content), Size: int64(len(b.content))}
}

func (b sha512Blob) ref(repo name.Repository) name.Digest {
	return repo.Digest(sha512Of(b.content).String())
}

func sha512Of(b []byte) v1.Hash {
	sum := sha512.Sum512(b)
	return v1.Hash{Algorithm: "sha512", Hex: hex.EncodeToString(sum[:])}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// SHA512Image is what PushPullSHA512 pushed.
type SHA512Image struct {
	Manifest v1.Hash
	Blobs    []v1.Hash // config, then layers
}

// PushPullSHA512 pushes an image whose config, layers and manifest are all
// named by sha512 digests (uploads finished with ?digest=sha512:..., the
// manifest PUT by its sha512 digest), mounts a layer into repo+"-mounted" by
// its sha512 digest, and pulls everything back by those digests, checking
// the content and that every answer names the sha512 digest.
func PushPullSHA512(t *testing.T, ctx context.Context, repo name.Repository, auth authn.Authenticator) SHA512Image {
	t.Helper()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	cfg := newSHA512Blob(types.OCIConfigJSON, fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","nonce":"%x"}`, randomBytes(8)))
	layers := []sha512Blob{newSHA512Blob(types.OCILayer, randomBytes(64<<10)), newSHA512Blob(types.OCILayer, randomBytes(32<<10))}
	img := SHA512Image{Blobs: []v1.Hash{cfg.descriptor().Digest}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg.descriptor()}
	for _, b := range append([]sha512Blob{cfg}, layers...) {
		if err := remote.WriteLayer(repo, b, opts...); err != nil {
			t.Fatalf("push blob by sha512: %v", err)
		}
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, l.descriptor())
		img.Blobs = append(img.Blobs, l.descriptor().Digest)
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	img.Manifest = sha512Of(body)
	mref := repo.Digest(img.Manifest.String())

	mounted, err := name.NewRepository(repo.String()+"-mounted", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, http.DefaultTransport,
		[]string{repo.Scope(transport.PushScope), mounted.Scope(transport.PushScope)})
	if err != nil {
		t.Fatalf("token for %s: %v", repo, err)
	}
	client := &http.Client{Transport: rt}
	call := func(method, path string, body []byte, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, "http://"+repo.RegistryStr()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp
	}
	named := func(what string, resp *http.Response, status int, d v1.Hash) []byte {
		t.Helper()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status {
			t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, b, status)
		}
		if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
			t.Errorf("%s: Docker-Content-Digest %q, want %q", what, got, d)
		}
		return b
	}
	named("manifest PUT by sha512", call("PUT", "/v2/"+repo.RepositoryStr()+"/manifests/"+img.Manifest.String(), body, "Content-Type", string(types.OCIManifestSchema1)), http.StatusCreated, img.Manifest)
	for _, method := range []string{"HEAD", "GET"} {
		got := named("manifest "+method+" by sha512", call(method, "/v2/"+repo.RepositoryStr()+"/manifests/"+img.Manifest.String(), nil, "Accept", string(types.OCIManifestSchema1)), http.StatusOK, img.Manifest)
		if method == "GET" && !bytes.Equal(got, body) {
			t.Errorf("manifest by sha512: got %s, want %s", got, body)
		}
		for _, d := range img.Blobs {
			named("blob "+method+" by sha512", call(method, "/v2/"+repo.RepositoryStr()+"/blobs/"+d.String(), nil), http.StatusOK, d)
		}
	}

	// go-containerregistry's own pull verifies everything by sha512.
	desc, err := remote.Get(mref, opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", mref, err)
	}
	if desc.Digest != img.Manifest || !bytes.Equal(desc.Manifest, body) {
		t.Fatalf("pulled manifest %v, want %v", desc.Digest, img.Manifest)
	}
	if head, err := remote.Head(mref, opts...); err != nil || head.Digest != img.Manifest {
		t.Fatalf("head %s: %v (%v)", mref, head, err)
	}
	for _, l := range append(layers, cfg) {
		pulled, err := remote.Layer(l.ref(repo), opts...)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := pulled.Compressed()
		if err != nil {
			t.Fatalf("pull blob %v: %v", l.descriptor().Digest, err)
		}
		got, err := io.ReadAll(rc) // verified against the sha512 digest on EOF
		rc.Close()
		if err != nil || !bytes.Equal(got, l.content) {
			t.Fatalf("blob %v: %d bytes (%v), want %d", l.descriptor().Digest, len(got), err, len(l.content))
		}
	}

	// Mount by sha512 into another repository.
	if err := remote.WriteLayer(mounted, &remote.MountableLayer{Layer: layers[0], Reference: layers[0].ref(repo)}, opts...); err != nil {
		t.Fatalf("mount by sha512: %v", err)
	}
	named("mounted blob by sha512", call("HEAD", "/v2/"+mounted.RepositoryStr()+"/blobs/"+layers[0].descriptor().Digest.String(), nil), http.StatusOK, layers[0].descriptor().Digest)
	return img
}

// PushSHA512Blob uploads content by its sha512 digest and returns that.
func PushSHA512Blob(t *testing.T, ctx context.Context, repo name.Repository, content []byte, opts ...remote.Option) v1.Hash {
	t.Helper()
	b := newSHA512Blob(types.OCILayer, content)
	if err := remote.WriteLayer(repo, b, append(opts, remote.WithContext(ctx))...); err != nil {
		t.Fatalf("push blob by sha512: %v", err)
	}
	return b.descriptor().Digest
}

// PushPullNonDistributable pushes an image with a non-distributable layer
// (urls, its blob never pushed) next to an ordinary one, and checks the
// manifest comes back byte for byte.
func PushPullNonDistributable(t *testing.T, ctx context.Context, ref name.Tag, opts ...remote.Option) {
	t.Helper()
	opts = append(opts, remote.WithContext(ctx))
	cfg := static.NewLayer(fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","nonce":"%x"}`, randomBytes(8)), types.OCIConfigJSON)
	layer := static.NewLayer(randomBytes(4<<10), types.OCILayer)
	for _, l := range []v1.Layer{cfg, layer} {
		if err := remote.WriteLayer(ref.Repository, l, opts...); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	desc := func(l v1.Layer) v1.Descriptor {
		d, _ := l.Digest()
		s, _ := l.Size()
		mt, _ := l.MediaType()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: s}
	}
	foreign, _, _ := v1.SHA256(bytes.NewReader(randomBytes(32)))
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        desc(cfg),
		Layers: []v1.Descriptor{
			{MediaType: types.OCIRestrictedLayer, Digest: foreign, Size: 123456, URLs: []string{"https://store.example.com/blobs/" + foreign.String()}},
			desc(layer),
		},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{body: body, mt: types.OCIManifestSchema1}, opts...); err != nil {
		t.Fatalf("push manifest with a non-distributable layer: %v", err)
	}
	got, err := remote.Get(ref, opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if !bytes.Equal(got.Manifest, body) {
		t.Fatalf("manifest changed in the registry:\n got %s\nwant %s", got.Manifest, body)
	}
}
