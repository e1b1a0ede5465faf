package importer

import (
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/registry-stack/registry-stack/internal/bundle"
)

// ociBundle reads images and indexes out of an OCI image layout. Every
// document and blob is read through a verifier; a mismatch is recorded in
// faults, which belong to the top-level image being imported.
type ociBundle struct {
	src    source
	faults *faults
	count  func(int64)
}

// manifest reads and verifies one manifest and returns it as an image or
// an index for the registry client.
func (b ociBundle) manifest(desc v1.Descriptor) (remoteTaggable, error) {
	raw, err := readManifest(b.src, desc, b.faults)
	if err != nil {
		return nil, err
	}
	mt := desc.MediaType
	if mt == "" {
		mt = sniffMediaType(raw)
	}
	switch {
	case mt.IsIndex():
		im, err := v1.ParseIndexManifest(bytesReader(raw))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		return &ociIndex{b: b, raw: raw, mt: mt, desc: desc, m: im}, nil
	case mt.IsImage():
		m, err := v1.ParseManifest(bytesReader(raw))
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		core := &ociImageCore{b: b, raw: raw, mt: mt, m: m}
		img, err := partial.CompressedToImage(core)
		if err != nil {
			return nil, err
		}
		return img, nil
	}
	return nil, fmt.Errorf("manifest %s has media type %q, neither an image nor an index", desc.Digest, mt)
}

// remoteTaggable is what remote.Write or remote.WriteIndex take.
type remoteTaggable interface {
	RawManifest() ([]byte, error)
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
}

// sniffMediaType is for index.json entries without a mediaType: the
// manifest's own field, else its shape.
func sniffMediaType(raw []byte) types.MediaType {
	var probe struct {
		MediaType types.MediaType   `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	_ = json.Unmarshal(raw, &probe)
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return types.OCIImageIndex
	}
	return types.OCIManifestSchema1
}

// ociImageCore is partial.CompressedImageCore over the layout.
type ociImageCore struct {
	b   ociBundle
	raw []byte
	mt  types.MediaType
	m   *v1.Manifest
}

func (i *ociImageCore) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *ociImageCore) MediaType() (types.MediaType, error) { return i.mt, nil }

func (i *ociImageCore) RawConfigFile() ([]byte, error) {
	return readVerified(i.b.src, "config", i.m.Config.Digest, i.m.Config.Size, i.b.faults)
}

// ConfigLayer streams the config like any blob (partial.ConfigLayer would
// hold it in memory).
func (i *ociImageCore) ConfigLayer() (v1.Layer, error) {
	return &ociBlob{b: i.b, desc: i.m.Config, what: "config"}, nil
}

func (i *ociImageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &ociBlob{b: i.b, desc: i.m.Config, what: "config"}, nil
	}
	for _, l := range i.m.Layers {
		if l.Digest == h {
			return &ociBlob{b: i.b, desc: l, what: "blob"}, nil
		}
	}
	return nil, fmt.Errorf("manifest has no layer %s", h)
}

// ociBlob is one blob of the layout, streamed and verified on each read.
type ociBlob struct {
	b    ociBundle
	desc v1.Descriptor
	what string
}

func (l *ociBlob) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *ociBlob) DiffID() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *ociBlob) Size() (int64, error)                { return l.desc.Size, nil }
func (l *ociBlob) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *ociBlob) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("%s %s: an import never decompresses layers", l.what, l.desc.Digest)
}

func (l *ociBlob) Compressed() (io.ReadCloser, error) {
	r, _, err := l.b.src.open(bundle.BlobPath(l.desc.Digest))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", l.what, l.desc.Digest, err)
	}
	return verify(r, l.what, l.desc.Digest, l.desc.Size, l.b.faults, l.b.count)
}

// ociIndex is v1.ImageIndex over the layout: every child, every platform.
type ociIndex struct {
	b    ociBundle
	raw  []byte
	mt   types.MediaType
	desc v1.Descriptor
	m    *v1.IndexManifest
}

func (x *ociIndex) MediaType() (types.MediaType, error)       { return x.mt, nil }
func (x *ociIndex) Digest() (v1.Hash, error)                  { return x.desc.Digest, nil }
func (x *ociIndex) Size() (int64, error)                      { return int64(len(x.raw)), nil }
func (x *ociIndex) IndexManifest() (*v1.IndexManifest, error) { return x.m, nil }
func (x *ociIndex) RawManifest() ([]byte, error)              { return x.raw, nil }

func (x *ociIndex) child(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range x.m.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("index %s has no manifest %s", x.desc.Digest, h)
}

func (x *ociIndex) Image(h v1.Hash) (v1.Image, error) { return childAs[v1.Image](x, h, "an image") }

func (x *ociIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return childAs[v1.ImageIndex](x, h, "an index")
}

// childAs reads the index's child h from the bundle as a T (an image or
// an index), or says what it is not.
func childAs[T any](x *ociIndex, h v1.Hash, what string) (T, error) {
	var zero T
	d, err := x.child(h)
	if err != nil {
		return zero, err
	}
	m, err := x.b.manifest(d)
	if err != nil {
		return zero, err
	}
	t, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("manifest %s is not %s", h, what)
	}
	return t, nil
}

// Layer serves index entries that are neither images nor indexes (a blob
// listed directly), so they are uploaded too.
func (x *ociIndex) Layer(h v1.Hash) (v1.Layer, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return &ociBlob{b: x.b, desc: d, what: "blob"}, nil
}
