package referrers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// repositoriesRoot is where distribution keeps repositories, in every
// storage driver.
const repositoriesRoot = "/docker/registry/v2/repositories"

// Store is the referrers index in distribution's storage driver:
//
//	<repositories>/<name>/_referrers/<subject alg>/<subject hex>/<referrer alg>.<referrer hex>
//
// each object holding the referrer's descriptor as JSON. One object per
// referrer means no read-modify-write: replicas sharing object storage add
// and remove entries without coordinating, and a listing is one List of the
// subject's directory. distribution's walks (catalog, garbage collection)
// skip "_" directories of a repository, so they never see the index.
type Store struct {
	driver storagedriver.StorageDriver
}

// NewStore returns the index kept in d.
func NewStore(d storagedriver.StorageDriver) *Store { return &Store{driver: d} }

func subjectDir(repo string, subject digest.Digest) string {
	return path.Join(repositoriesRoot, repo, "_referrers", subject.Algorithm().String(), subject.Encoded())
}

// entryName is the object name of a referrer: the digest with '.' for ':'
// (storage drivers allow no ':' in paths; an algorithm may contain '.', an
// encoded digest never does, so the last '.' separates them).
func entryName(referrer digest.Digest) string {
	return referrer.Algorithm().String() + "." + referrer.Encoded()
}

func parseEntryName(name string) (digest.Digest, error) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", fmt.Errorf("referrers index entry %q: not <algorithm>.<hex>", name)
	}
	d := digest.Digest(name[:i] + ":" + name[i+1:])
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("referrers index entry %q: %w", name, err)
	}
	return d, nil
}

// Add records r in repository repo's index.
func (s *Store) Add(ctx context.Context, repo string, r Referrer) error {
	b, err := json.Marshal(r.Descriptor)
	if err != nil {
		return err
	}
	p := path.Join(subjectDir(repo, r.Subject), entryName(r.Descriptor.Digest))
	if err := s.driver.PutContent(ctx, p, b); err != nil {
		return fmt.Errorf("recording referrer %s of %s in %s: %w", r.Descriptor.Digest, r.Subject, repo, err)
	}
	return nil
}

// Remove deletes the entry of referrer under subject; a missing entry is
// not an error.
func (s *Store) Remove(ctx context.Context, repo string, subject, referrer digest.Digest) error {
	err := s.driver.Delete(ctx, path.Join(subjectDir(repo, subject), entryName(referrer)))
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("removing referrer %s of %s in %s: %w", referrer, subject, repo, err)
	}
	return nil
}

// List returns the digests of subject's referrers in repo, sorted, so that
// pages follow one another in a stable order.
func (s *Store) List(ctx context.Context, repo string, subject digest.Digest) ([]digest.Digest, error) {
	paths, err := s.driver.List(ctx, subjectDir(repo, subject))
	var notFound storagedriver.PathNotFoundError
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s in %s: %w", subject, repo, err)
	}
	out := make([]digest.Digest, 0, len(paths))
	for _, p := range paths {
		d, err := parseEntryName(path.Base(p))
		if err != nil {
			continue // not ours: ignored rather than failing the listing
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}

// ErrNotFound means an entry is gone (removed since it was listed).
var ErrNotFound = errors.New("referrers index entry not found")

// Get reads the descriptor of one entry.
func (s *Store) Get(ctx context.Context, repo string, subject, referrer digest.Digest) (v1.Descriptor, error) {
	b, err := s.driver.GetContent(ctx, path.Join(subjectDir(repo, subject), entryName(referrer)))
	var notFound storagedriver.PathNotFoundError
	if errors.As(err, &notFound) {
		return v1.Descriptor{}, ErrNotFound
	}
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading referrer %s of %s in %s: %w", referrer, subject, repo, err)
	}
	var d v1.Descriptor
	if err := json.Unmarshal(b, &d); err != nil {
		return v1.Descriptor{}, fmt.Errorf("referrer %s of %s in %s: %w", referrer, subject, repo, err)
	}
	return d, nil
}

// Index reads repo's whole index, for garbage collection: each subject
// with a list (an empty one too: a directory left by deletions) and the
// referrers in it.
func (s *Store) Index(ctx context.Context, repo string) (map[digest.Digest][]digest.Digest, error) {
	root := path.Join(repositoriesRoot, repo, "_referrers")
	index := map[digest.Digest][]digest.Digest{}
	err := s.driver.Walk(ctx, root, func(fi storagedriver.FileInfo) error {
		rel := strings.Split(strings.TrimPrefix(fi.Path(), root+"/"), "/")
		if len(rel) < 2 {
			return nil
		}
		subject := digest.Digest(rel[0] + ":" + rel[1])
		if subject.Validate() != nil {
			return nil // not ours
		}
		switch {
		case len(rel) == 2 && fi.IsDir():
			if _, ok := index[subject]; !ok {
				index[subject] = nil
			}
		case len(rel) == 3 && !fi.IsDir():
			if referrer, err := parseEntryName(rel[2]); err == nil {
				index[subject] = append(index[subject], referrer)
			}
		}
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return nil, fmt.Errorf("walking the referrers index of %s: %w", repo, err)
	}
	return index, nil
}

// RemoveSubject deletes subject's whole list in repo; a missing list is not
// an error.
func (s *Store) RemoveSubject(ctx context.Context, repo string, subject digest.Digest) error {
	err := s.driver.Delete(ctx, subjectDir(repo, subject))
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("removing the referrers of %s in %s: %w", subject, repo, err)
	}
	return nil
}
