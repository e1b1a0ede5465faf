// Package digestalias lets clients push and pull by sha512 (any digest
// algorithm other than sha256) on top of distribution, which stores and
// names all content by sha256.
//
// distribution already verifies a blob upload against a sha512 digest and
// then stores the blob under its sha256 digest, with a link from the sha512
// digest in the repository (_layers/sha512/<hex>/link holding
// "sha256:<hex>"): an alias. This package adds what is missing around that:
// the same kind of alias for manifests (_manifests/revisions/sha512/...),
// requests by sha512 resolved to the sha256 digest before distribution sees
// them, answers that name the digest the client used, and the alias
// bookkeeping garbage collection needs.
package digestalias

import (
	"context"
	// go-digest only reports sha384 and sha512 as available when their
	// implementation is linked in.
	_ "crypto/sha512"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// RepositoriesRoot is where distribution keeps repositories in storage.
const RepositoriesRoot = "/docker/registry/v2/repositories"

// Kind says which link set of a repository an alias lives in.
type Kind int

const (
	// Layer aliases name blobs (_layers).
	Layer Kind = iota
	// Revision aliases name manifests (_manifests/revisions).
	Revision
)

func (k Kind) dir() string {
	if k == Revision {
		return "_manifests/revisions"
	}
	return "_layers"
}

// IsAlias reports whether d is a well-formed digest of an algorithm other
// than sha256 that this binary can compute: one distribution keeps as an
// alias of the sha256 digest.
func IsAlias(d digest.Digest) bool {
	return d.Validate() == nil && d.Algorithm() != digest.Canonical
}

// ErrNoAlias means the repository has no alias for the digest.
var ErrNoAlias = errors.New("no such digest alias")

// Store reads and writes aliases through a storage driver.
type Store struct {
	driver storagedriver.StorageDriver
}

// NewStore returns a Store on driver, which must be the storage
// distribution uses.
func NewStore(driver storagedriver.StorageDriver) *Store { return &Store{driver: driver} }

// linkPath is distribution's link file for d in repository name.
func linkPath(name string, k Kind, d digest.Digest) string {
	return path.Join(RepositoriesRoot, name, k.dir(), string(d.Algorithm()), d.Encoded(), "link")
}

// checkName refuses what is no repository name: a mount's from parameter
// is the client's text, and "../" in it would leave RepositoriesRoot.
func checkName(name string) error {
	if _, err := reference.WithName(name); err != nil {
		return fmt.Errorf("repository name %q: %w", name, err)
	}
	return nil
}

// Resolve returns the sha256 digest the alias d of repository name points
// at, or ErrNoAlias.
func (s *Store) Resolve(ctx context.Context, name string, k Kind, d digest.Digest) (digest.Digest, error) {
	if !IsAlias(d) {
		return "", fmt.Errorf("%s: %w", d, ErrNoAlias)
	}
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoAlias, err)
	}
	b, err := s.driver.GetContent(ctx, linkPath(name, k, d))
	var notFound storagedriver.PathNotFoundError
	if errors.As(err, &notFound) {
		return "", fmt.Errorf("%s in %s: %w", d, name, ErrNoAlias)
	}
	if err != nil {
		return "", fmt.Errorf("read alias %s in %s: %w", d, name, err)
	}
	target, err := digest.Parse(strings.TrimSpace(string(b)))
	if err != nil || target.Algorithm() != digest.Canonical {
		return "", fmt.Errorf("alias %s in %s: bad link %q", d, name, b)
	}
	return target, nil
}

// Link makes d an alias of canonical in repository name. Callers link only
// after distribution accepted the content under canonical and they checked
// that it hashes to d.
func (s *Store) Link(ctx context.Context, name string, k Kind, d, canonical digest.Digest) error {
	if !IsAlias(d) || canonical.Algorithm() != digest.Canonical {
		return fmt.Errorf("alias %s -> %s: not an alias of a sha256 digest", d, canonical)
	}
	if err := checkName(name); err != nil {
		return err
	}
	if err := s.driver.PutContent(ctx, linkPath(name, k, d), []byte(canonical)); err != nil {
		return fmt.Errorf("write alias %s in %s: %w", d, name, err)
	}
	return nil
}

// Remove deletes the alias d of repository name, if there is one.
func (s *Store) Remove(ctx context.Context, name string, k Kind, d digest.Digest) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := s.driver.Delete(ctx, path.Dir(linkPath(name, k, d)))
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("remove alias %s in %s: %w", d, name, err)
	}
	return nil
}

// aliasLink matches an alias link below RepositoriesRoot:
// <name>/(_layers|_manifests/revisions)/<algorithm>/<hex>/link.
var aliasLink = regexp.MustCompile(`^(.+)/(_layers|_manifests/revisions)/([a-z0-9]+)/([a-f0-9]+)/link$`)

// Dangling is an alias whose sha256 link is gone from its repository.
type Dangling struct {
	Repository string
	Kind       Kind
	Digest     digest.Digest
}

// Prune finds aliases whose sha256 link no longer exists in their
// repository (the content was deleted by its sha256 digest, or garbage
// collection removed it) and, unless dryRun, removes them. Such an alias
// serves nothing (a request through it finds no content), so removing it
// only tidies storage.
func (s *Store) Prune(ctx context.Context, dryRun bool) ([]Dangling, error) {
	var found []Dangling
	err := s.driver.Walk(ctx, RepositoriesRoot, func(fi storagedriver.FileInfo) error {
		rel := strings.TrimPrefix(fi.Path(), RepositoriesRoot+"/")
		if fi.IsDir() {
			// sha256 links, upload sessions and tags hold no aliases.
			switch base, parent := path.Base(rel), path.Base(path.Dir(rel)); {
			case base == "_uploads", base == "tags" && parent == "_manifests",
				base == string(digest.Canonical) && (parent == "_layers" || strings.HasSuffix(path.Dir(rel), "_manifests/revisions")):
				return storagedriver.ErrSkipDir
			}
			return nil
		}
		m := aliasLink.FindStringSubmatch(rel)
		if m == nil {
			return nil
		}
		k := Layer
		if m[2] != "_layers" {
			k = Revision
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(m[3]), m[4])
		if !IsAlias(d) {
			return nil
		}
		target, err := s.Resolve(ctx, m[1], k, d)
		if err != nil {
			return err
		}
		_, err = s.driver.Stat(ctx, linkPath(m[1], k, target))
		var notFound storagedriver.PathNotFoundError
		switch {
		case errors.As(err, &notFound):
			found = append(found, Dangling{Repository: m[1], Kind: k, Digest: d})
		case err != nil:
			return fmt.Errorf("stat %s in %s: %w", target, m[1], err)
		}
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return nil, fmt.Errorf("find dangling digest aliases: %w", err)
	}
	if dryRun {
		return found, nil
	}
	// Removed after the walk: deleting while a driver walks is not safe on
	// every driver.
	for _, a := range found {
		if err := s.Remove(ctx, a.Repository, a.Kind, a.Digest); err != nil {
			return found, err
		}
	}
	return found, nil
}
