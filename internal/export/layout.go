package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/bundle"
)

// tempPrefix marks files being written; they are never a layout's content
// and a later run ignores (and overwrites) them.
const tempPrefix = ".partial-"

const layoutFile = `{"imageLayoutVersion":"1.0.0"}`

// lockFile is held (flock) by the one writer of a layout; its temp prefix
// keeps it out of archives.
const lockFile = tempPrefix + "lock"

// Layout is an OCI image layout directory being written: blobs land under
// their final name only once complete and verified, and index.json is
// replaced atomically, so a killed writer leaves a valid layout behind.
// One writer at a time, enforced by a lock held from OpenLayout to Close:
// opening a layout removes the temp files an interrupted writer left.
type Layout struct {
	dir  string
	lock *os.File
	mu   sync.Mutex // serialises index.json updates
}

// OpenLayout creates dir as an OCI image layout, or opens the one there,
// and locks it until Close. A directory that holds other files is refused:
// a bundle archives everything in it.
func OpenLayout(dir string) (*Layout, error) {
	if err := checkLayoutDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create layout %s: %w", dir, err)
	}
	lock, err := lockLayout(dir)
	if err != nil {
		return nil, err
	}
	l := &Layout{dir: dir, lock: lock}
	if err := l.open(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// checkLayoutDir accepts a missing or empty directory, or one with an
// oci-layout file; temp files of an interrupted first run do not count.
func checkLayoutDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open layout %s: %w", dir, err)
	}
	var others []string
	for _, e := range entries {
		switch {
		case e.Name() == "oci-layout":
			return nil
		case !strings.HasPrefix(e.Name(), tempPrefix):
			others = append(others, e.Name())
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%s is not empty and has no oci-layout file (it holds %s): not a bundle; give a new or empty directory", dir, strings.Join(others[:min(len(others), 3)], ", "))
	}
	return nil
}

// lockLayout takes the writer lock of dir without waiting.
func lockLayout(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock layout %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("bundle %s is in use by another export or mirror", dir)
		}
		return nil, fmt.Errorf("lock layout %s: %w", dir, err)
	}
	return f, nil
}

// Close releases the writer lock. The lock file stays: removing it would
// let a writer that opened it just before lock a file no longer there.
func (l *Layout) Close() error {
	if l.lock == nil {
		return nil
	}
	err := l.lock.Close() // closing the last descriptor releases the flock
	l.lock = nil
	return err
}

func (l *Layout) open() error {
	dir := l.dir
	// Temp files of an earlier, interrupted run: never content, only space.
	stale, _ := filepath.Glob(filepath.Join(dir, "blobs", "*", tempPrefix+"*"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
	p := filepath.Join(dir, "oci-layout")
	if b, err := os.ReadFile(p); err == nil {
		var v struct {
			Version string `json:"imageLayoutVersion"`
		}
		if json.Unmarshal(b, &v) != nil || v.Version == "" {
			return fmt.Errorf("%s: not an OCI layout file", p)
		}
	} else if err := writeAtomic(p, []byte(layoutFile)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		return fmt.Errorf("create layout %s: %w", dir, err)
	}
	// A layout is valid from the start, even if nothing gets exported.
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
		if err := l.AddEntries(); err != nil {
			return err
		}
	}
	return nil
}

// Dir is the layout's directory.
func (l *Layout) Dir() string { return l.dir }

// BlobPath is where the blob with digest h lives.
func (l *Layout) BlobPath(h v1.Hash) string {
	return filepath.Join(l.dir, filepath.FromSlash(bundle.BlobPath(h)))
}

// HasBlob reports whether the blob is there with its full size. Blobs are
// only ever renamed into place after their digest was checked.
func (l *Layout) HasBlob(h v1.Hash, size int64) bool {
	fi, err := os.Stat(l.BlobPath(h))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// ReadBlob returns a manifest the layout holds, false when it holds none;
// one over bundle.MaxManifestBytes is refused before it is read.
func (l *Layout) ReadBlob(h v1.Hash, size int64) ([]byte, bool, error) {
	if size > bundle.MaxManifestBytes {
		return nil, false, fmt.Errorf("manifest %s: %d bytes, over the %d byte limit for manifests", h, size, bundle.MaxManifestBytes)
	}
	if !l.HasBlob(h, size) {
		return nil, false, nil
	}
	f, err := os.Open(l.BlobPath(h))
	if err != nil {
		return nil, false, nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, size+1))
	if err != nil || int64(len(b)) != size {
		return nil, false, nil
	}
	return b, true, nil
}

// WriteBlob streams r into the layout as the blob h of the given size:
// into a temp file, checking digest and size on the way, renamed into
// place only when both match.
func (l *Layout) WriteBlob(h v1.Hash, size int64, r io.Reader) error {
	dg, err := digest.Parse(h.String())
	if err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	if !dg.Algorithm().Available() {
		return fmt.Errorf("blob %s: unsupported digest algorithm", h)
	}
	dir := filepath.Join(l.dir, "blobs", h.Algorithm)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+h.Hex+"-*")
	if err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	dgst := dg.Algorithm().Digester()
	// One byte past the size is enough to tell a longer blob.
	n, err := io.Copy(io.MultiWriter(f, dgst.Hash()), io.LimitReader(r, size+1))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		// Bundles are read by other users' tools (skopeo, podman).
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	if n != size {
		return fmt.Errorf("blob %s: got %d bytes, want %d", h, n, size)
	}
	if got := dgst.Digest(); got != dg {
		return fmt.Errorf("blob %s: content has digest %s", h, got)
	}
	if err := os.Rename(tmp, l.BlobPath(h)); err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	return nil
}

// WriteManifestBlob stores a manifest held in memory as a blob.
func (l *Layout) WriteManifestBlob(h v1.Hash, raw []byte) error {
	return l.WriteBlob(h, int64(len(raw)), bytes.NewReader(raw))
}

// Index returns the entries of index.json; none when there is none yet.
func (l *Layout) Index() ([]v1.Descriptor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, err := l.readIndex()
	if err != nil {
		return nil, err
	}
	return m.Manifests, nil
}

// Entry finds the entry named n.
func (l *Layout) Entry(n bundle.Name) (v1.Descriptor, bool, error) {
	entries, err := l.Index()
	if err != nil {
		return v1.Descriptor{}, false, err
	}
	want := n.String()
	for _, e := range entries {
		if entryName(e) == want {
			return e, true, nil
		}
	}
	return v1.Descriptor{}, false, nil
}

// AddEntries merges entries into index.json: an entry with the name of an
// existing one replaces it, others are appended.
func (l *Layout) AddEntries(entries ...v1.Descriptor) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, err := l.readIndex()
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := entryName(e)
		replaced := false
		for i, old := range m.Manifests {
			if name != "" && entryName(old) == name {
				m.Manifests[i] = e
				replaced = true
				break
			}
		}
		if !replaced {
			m.Manifests = append(m.Manifests, e)
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode index.json: %w", err)
	}
	// The renames of the blobs index.json names reach the disk first: a
	// power cut never leaves an entry whose blobs are gone.
	algs, _ := filepath.Glob(filepath.Join(l.dir, "blobs", "*"))
	for _, d := range algs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return writeAtomic(filepath.Join(l.dir, "index.json"), b)
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func (l *Layout) readIndex() (*v1.IndexManifest, error) {
	p := filepath.Join(l.dir, "index.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if m.SchemaVersion == 0 {
		m.SchemaVersion = 2
	}
	if m.Manifests == nil {
		m.Manifests = []v1.Descriptor{} // "manifests": [] is required
	}
	return &m, nil
}

// entryName is an entry's name as bundle defines it, "" when it has none.
func entryName(d v1.Descriptor) string {
	n, err := bundle.ParseName(d.Annotations)
	if err != nil {
		return ""
	}
	return n.String()
}

// writeAtomic replaces path with b: a temp file next to it, synced, renamed.
func writeAtomic(path string, b []byte) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, tempPrefix+strings.TrimPrefix(base, ".")+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}
