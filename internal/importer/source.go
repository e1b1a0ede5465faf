package importer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// source is a bundle's files, read in place: a directory, or a tar archive
// read through an index of its members' offsets, so a bundle of any size
// is imported without extracting it (no second copy on disk, no space
// check, nothing to clean up after a crash).
type source interface {
	// open returns the named file (slash-separated, relative to the
	// bundle's root) and its size.
	open(name string) (io.ReadCloser, int64, error)
	has(name string) bool
	close() error
}

// dirSource reads a directory bundle through an os.Root: a symbolic link
// (or "..") leading out of the directory is refused, so a crafted bundle
// cannot push a file from elsewhere on the machine (a Docker config, a
// key) into the registry as one of its blobs. Links within it (docker
// save's layer links) are followed.
type dirSource struct{ root *os.Root }

func (d dirSource) open(name string) (io.ReadCloser, int64, error) {
	p := filepath.FromSlash(name)
	f, err := d.root.Open(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			if st, lerr := d.root.Lstat(p); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
				return nil, 0, fmt.Errorf("%s: refused, a symbolic link leading out of the bundle directory: %w", name, err)
			}
		}
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", name)
	}
	return f, st.Size(), nil
}

func (d dirSource) has(name string) bool {
	st, err := d.root.Stat(filepath.FromSlash(name))
	return err == nil && st.Mode().IsRegular()
}

func (d dirSource) close() error { return d.root.Close() }

// tarSource reads members of an uncompressed tar archive as sections of
// the file.
type tarSource struct {
	f       *os.File
	members map[string]member
}

type member struct{ offset, size int64 }

// indexTar walks the archive's headers once, seeking over the data (the
// tar reader seeks when its reader is an io.Seeker), and records where
// each regular file's data starts. Links are resolved to their targets.
func indexTar(f *os.File) (*tarSource, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	t := &tarSource{f: f, members: map[string]member{}}
	links := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the tar archive: %w", err)
		}
		name := cleanMember(h.Name)
		switch h.Typeflag {
		case tar.TypeReg: // the reader reports old archives' TypeRegA as TypeReg
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			t.members[name] = member{offset: off, size: h.Size}
		case tar.TypeLink:
			links[name] = cleanMember(h.Linkname)
		case tar.TypeSymlink:
			target := h.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			links[name] = cleanMember(target)
		}
	}
	for name, target := range links {
		// A chain of links is at most a few long; cap it to refuse loops.
		for i := 0; i < 8; i++ {
			if next, ok := links[target]; ok {
				target = next
				continue
			}
			break
		}
		if m, ok := t.members[target]; ok {
			t.members[name] = m
		}
	}
	return t, nil
}

// cleanMember makes a member name relative to the bundle's root: "./x",
// "/x" and "../../x" all become "x", so no name reaches outside it.
func cleanMember(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (t *tarSource) open(name string) (io.ReadCloser, int64, error) {
	m, ok := t.members[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, m.offset, m.size)), m.size, nil
}

func (t *tarSource) has(name string) bool { _, ok := t.members[name]; return ok }

func (t *tarSource) close() error { return t.f.Close() }

// format is what a bundle holds.
type format int

const (
	formatOCI format = iota + 1
	formatDockerArchive
)

func (f format) String() string {
	if f == formatOCI {
		return "OCI image layout"
	}
	return "docker save archive"
}

// openSource opens a directory or a tar file and tells from its contents
// (never its name) what it holds: an OCI image layout (oci-layout and
// index.json) or a docker save archive (manifest.json). An archive with
// both, as docker 25 writes, is read as the OCI layout, which keeps the
// original digests.
func openSource(p string) (source, format, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, 0, err
	}
	var src source
	if st.IsDir() {
		root, err := os.OpenRoot(p)
		if err != nil {
			return nil, 0, err
		}
		src = dirSource{root: root}
	} else {
		f, err := os.Open(p)
		if err != nil {
			return nil, 0, err
		}
		var magic [6]byte
		n, _ := io.ReadFull(f, magic[:])
		switch {
		case n >= 2 && bytes.Equal(magic[:2], []byte{0x1f, 0x8b}):
			f.Close()
			return nil, 0, fmt.Errorf("%s is gzip-compressed: decompress it first (gunzip), the archive is read in place", p)
		case n >= 6 && (bytes.Equal(magic[:6], []byte{0xfd, '7', 'z', 'X', 'Z', 0}) || bytes.Equal(magic[:4], []byte{0x28, 0xb5, 0x2f, 0xfd})):
			f.Close()
			return nil, 0, fmt.Errorf("%s is compressed (xz or zstd): decompress it first, the archive is read in place", p)
		}
		t, err := indexTar(f)
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("%s: neither a directory nor a tar archive: %w", p, err)
		}
		src = t
	}
	switch {
	case src.has("index.json") && src.has("oci-layout"):
		return src, formatOCI, nil
	case src.has("manifest.json"):
		return src, formatDockerArchive, nil
	case src.has("index.json"):
		return src, formatOCI, nil
	}
	src.close()
	return nil, 0, fmt.Errorf("%s holds neither an OCI image layout (index.json, oci-layout) nor a docker save archive (manifest.json)", p)
}
