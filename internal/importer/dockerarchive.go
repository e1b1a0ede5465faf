package importer

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// dockerEntry is one image of a docker save archive's manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func readDockerManifest(src source) ([]dockerEntry, error) {
	r, size, err := src.open("manifest.json")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if size > maxDocument {
		return nil, fmt.Errorf("manifest.json is %d bytes, more than %d", size, maxDocument)
	}
	var entries []dockerEntry
	if err := json.NewDecoder(io.LimitReader(r, maxDocument)).Decode(&entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	return entries, nil
}

// hexName finds the sha256 a docker archive names a file by:
// "<hex>.json", "sha256:<hex>", "blobs/sha256/<hex>".
var hexName = regexp.MustCompile(`^(?:sha256:)?([0-9a-f]{64})(?:\.json)?$`)

// dockerImage turns one manifest.json entry into an image with a docker
// schema 2 manifest. docker save keeps layers uncompressed (or as they
// were pulled, for some tools): each layer is read once first to learn its
// digest as pushed (gzip-compressed here when it is not already) and to
// check it against the config's diff_ids; the upload reads it again,
// verified against that digest. The result is measured once per image and
// pushed once per RepoTag, each push with its own faults (image).
func dockerImage(ctx context.Context, src source, e dockerEntry) (*dockerMeasured, error) {
	cfgR, cfgSize, err := src.open(cleanMember(e.Config))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", e.Config, err)
	}
	if cfgSize > maxDocument {
		cfgR.Close()
		return nil, fmt.Errorf("config %s is %d bytes, more than %d", e.Config, cfgSize, maxDocument)
	}
	raw, err := io.ReadAll(io.LimitReader(cfgR, maxDocument))
	cfgR.Close()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", e.Config, err)
	}
	cfgDigest, cfgLen, err := v1.SHA256(bytesReader(raw))
	if err != nil {
		return nil, err
	}
	if m := hexName.FindStringSubmatch(path.Base(e.Config)); m != nil && m[1] != cfgDigest.Hex {
		want := v1.Hash{Algorithm: "sha256", Hex: m[1]}
		return nil, &DigestError{What: "config", Want: want, Got: cfgDigest.String()}
	}
	cfg, err := v1.ParseConfigFile(bytesReader(raw))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", e.Config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return nil, fmt.Errorf("config %s lists %d layers, manifest.json %d", e.Config, len(cfg.RootFS.DiffIDs), len(e.Layers))
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: cfgLen, Digest: cfgDigest},
		// An image without layers has "layers": [], never null.
		Layers: []v1.Descriptor{},
	}
	d := &dockerMeasured{src: src, config: raw, cfgDesc: m.Config, layers: map[v1.Hash]*dockerLayer{}}
	for i, p := range e.Layers {
		l := &dockerLayer{src: src, name: cleanMember(p), diffID: cfg.RootFS.DiffIDs[i]}
		if err := l.measure(ctx); err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: l.size, Digest: l.digest})
		d.layers[l.digest] = l
	}
	d.manifest, err = json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// dockerMeasured is one image of the archive, its layers measured.
type dockerMeasured struct {
	src      source
	config   []byte
	cfgDesc  v1.Descriptor
	manifest []byte
	layers   map[v1.Hash]*dockerLayer
}

// image is the image for one push: its layers' digest mismatches are
// recorded in f, the bytes read counted with count.
func (d *dockerMeasured) image(f *faults, count func(int64)) (v1.Image, error) {
	return partial.CompressedToImage(&dockerImageCore{d: d, faults: f, count: count})
}

type dockerImageCore struct {
	d      *dockerMeasured
	faults *faults
	count  func(int64)
}

func (c *dockerImageCore) RawConfigFile() ([]byte, error) { return c.d.config, nil }
func (c *dockerImageCore) MediaType() (types.MediaType, error) {
	return types.DockerManifestSchema2, nil
}
func (c *dockerImageCore) RawManifest() ([]byte, error) { return c.d.manifest, nil }

func (c *dockerImageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == c.d.cfgDesc.Digest {
		return configBlob{c.d}, nil
	}
	if l, ok := c.d.layers[h]; ok {
		return pushedLayer{dockerLayer: l, faults: c.faults, count: c.count}, nil
	}
	return nil, fmt.Errorf("no layer %s", h)
}

// configBlob is the config, already read and hashed.
type configBlob struct{ d *dockerMeasured }

func (b configBlob) Digest() (v1.Hash, error)            { return b.d.cfgDesc.Digest, nil }
func (b configBlob) Size() (int64, error)                { return b.d.cfgDesc.Size, nil }
func (b configBlob) MediaType() (types.MediaType, error) { return types.DockerConfigJSON, nil }
func (b configBlob) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytesReader(b.d.config)), nil
}

// dockerLayer is one layer file of the archive, as pushed: the file itself
// when gzip-compressed, else the file compressed on the fly.
type dockerLayer struct {
	src     source
	name    string
	diffID  v1.Hash
	gzipped bool
	digest  v1.Hash
	size    int64
}

// layerGzipLevel compresses the layers an archive holds uncompressed. The
// digest of the result is learnt by measure and must come out the same
// when the upload compresses the layer again, in the same process: the
// level may change between releases, though an import by another release
// then pushes other blobs for the same layers.
const layerGzipLevel = gzip.BestSpeed

// measure reads the layer once: its digest and size as pushed, and its
// uncompressed digest checked against the config's diff_id. Cancelling
// ctx stops it within one read.
func (l *dockerLayer) measure(ctx context.Context) error {
	r, _, err := l.src.open(l.name)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.name, err)
	}
	defer r.Close()
	br := bufio.NewReaderSize(ctxReader{ctx: ctx, r: r}, 1<<16)
	magic, _ := br.Peek(2)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("layer %s: %w", l.name, err)
	}
	l.gzipped = len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	pushed, diff := sha256.New(), sha256.New()
	n := &byteCount{}
	if l.gzipped {
		zr, err := gzip.NewReader(io.TeeReader(br, io.MultiWriter(pushed, n)))
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.name, err)
		}
		if _, err := io.Copy(diff, zr); err != nil {
			return fmt.Errorf("layer %s: %w", l.name, err)
		}
		// Whatever follows the gzip stream is part of the blob too.
		if _, err := io.Copy(io.MultiWriter(pushed, n), br); err != nil {
			return fmt.Errorf("layer %s: %w", l.name, err)
		}
	} else {
		zw, err := gzip.NewWriterLevel(io.MultiWriter(pushed, n), layerGzipLevel)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.MultiWriter(zw, diff), br); err != nil {
			return fmt.Errorf("layer %s: %w", l.name, err)
		}
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if got := hex.EncodeToString(diff.Sum(nil)); got != l.diffID.Hex || l.diffID.Algorithm != "sha256" {
		return &DigestError{What: "layer", Want: l.diffID, Got: "sha256:" + got}
	}
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(pushed.Sum(nil))}
	l.size = n.n
	return nil
}

// ctxReader fails its reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type byteCount struct{ n int64 }

func (c *byteCount) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// pushedLayer is a measured layer in one push.
type pushedLayer struct {
	*dockerLayer
	faults *faults
	count  func(int64)
}

func (l pushedLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l pushedLayer) Size() (int64, error)                { return l.size, nil }
func (l pushedLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }

// Compressed streams the layer as pushed, verified against the digest
// measure found (the file may have changed since).
func (l pushedLayer) Compressed() (io.ReadCloser, error) {
	r, _, err := l.src.open(l.name)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.name, err)
	}
	if l.gzipped {
		return verify(r, "blob", l.digest, l.size, l.faults, l.count)
	}
	// Closing the verifier closes pr, which ends the copy below.
	pr, pw := io.Pipe()
	go func(file io.ReadCloser) {
		defer file.Close()
		zw, err := gzip.NewWriterLevel(pw, layerGzipLevel)
		if err == nil {
			_, err = io.Copy(zw, file)
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}(r)
	return verify(pr, "blob", l.digest, l.size, l.faults, l.count)
}
