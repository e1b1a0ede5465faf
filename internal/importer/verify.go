package importer

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/registry-stack/registry-stack/internal/bundle"
)

// DigestError is content of the bundle that does not match the digest or
// size it is named by.
type DigestError struct {
	What string  // "blob", "manifest", "config", "layer"
	Want v1.Hash // the digest the bundle names it by
	Got  string  // the digest of what was read, or a size mismatch
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s %s in the bundle does not match its digest (got %s)", e.What, e.Want, e.Got)
}

// faults keeps the first digest error of one image. A verifying reader's
// error reaches the registry client as a failed request body, wrapped in
// transport errors; the report names the digest from here instead.
type faults struct {
	mu    sync.Mutex
	first *DigestError
}

func (f *faults) record(e *DigestError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = e
	}
}

func (f *faults) get() *DigestError {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

func newHash(algorithm string) (hash.Hash, error) {
	switch algorithm {
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm %q", algorithm)
}

// verifier passes a stream through and, at its end, checks its size and
// digest. On a mismatch it returns the error instead of io.EOF, so a
// registry upload reading it fails before the blob is committed (the
// commit comes after the body is sent whole).
type verifier struct {
	r      io.ReadCloser
	what   string
	want   v1.Hash
	size   int64 // -1: unknown
	h      hash.Hash
	n      int64
	err    error
	faults *faults
	count  func(int64) // bytes read, for progress; may be nil
}

func verify(r io.ReadCloser, what string, want v1.Hash, size int64, f *faults, count func(int64)) (io.ReadCloser, error) {
	h, err := newHash(want.Algorithm)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s %s: %w", what, want, err)
	}
	return &verifier{r: r, what: what, want: want, size: size, h: h, faults: f, count: count}, nil
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.count != nil && n > 0 {
		v.count(int64(n))
	}
	if v.size >= 0 && v.n > v.size {
		return n, v.fail(fmt.Sprintf("more than %d bytes", v.size))
	}
	// With the size known, the digest is checked with the last byte, not
	// at io.EOF: an HTTP client sending exactly Content-Length bytes gets
	// the error while the request is still being written.
	if (v.size >= 0 && v.n == v.size) || errors.Is(err, io.EOF) {
		if v.size >= 0 && v.n != v.size {
			return n, v.fail(fmt.Sprintf("%d bytes instead of %d", v.n, v.size))
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, v.fail(v.want.Algorithm + ":" + got)
		}
	}
	return n, err
}

func (v *verifier) fail(got string) error {
	e := &DigestError{What: v.what, Want: v.want, Got: got}
	if v.faults != nil {
		v.faults.record(e)
	}
	v.err = e
	return e
}

func (v *verifier) Close() error { return v.r.Close() }

// readVerified reads a small document (a manifest, a config, index.json
// entries) whole, refusing anything over limit, and checks its digest.
func readVerified(src source, what string, d v1.Hash, size int64, f *faults) ([]byte, error) {
	if size > maxDocument {
		return nil, fmt.Errorf("%s %s is %d bytes, more than the %d a %s may have", what, d, size, maxDocument, what)
	}
	r, _, err := src.open(bundle.BlobPath(d))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, d, err)
	}
	vr, err := verify(r, what, d, size, f, nil)
	if err != nil {
		return nil, err
	}
	defer vr.Close()
	b, err := io.ReadAll(io.LimitReader(vr, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxDocument {
		return nil, fmt.Errorf("%s %s is more than %d bytes", what, d, maxDocument)
	}
	return b, nil
}

// readManifest reads the manifest desc names. A descriptor without a size
// is refused as such: every manifest has one, and the read is checked
// against it.
func readManifest(src source, desc v1.Descriptor, f *faults) ([]byte, error) {
	if desc.Size <= 0 {
		return nil, fmt.Errorf("manifest %s: its descriptor has no size", desc.Digest)
	}
	return readVerified(src, "manifest", desc.Digest, desc.Size, f)
}

// maxDocument bounds the JSON documents (index.json, manifests, configs)
// read whole.
const maxDocument = bundle.MaxManifestBytes

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
