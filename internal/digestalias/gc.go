package digestalias

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ForGC wraps the registry storage distribution's MarkAndSweep walks so
// that it sees aliases the way it sees everything else, by sha256:
//
//   - a manifest referring to a sha512 digest also refers to the sha256
//     digest its alias points at, so the stored blob is marked (without
//     this, every blob pushed by sha512 would be swept);
//   - an alias link enumerates as its target, the sha256 digest, which the
//     sha256 link enumerates too: each digest is reported once per
//     repository (twice, and the second removal of the same link fails).
func ForGC(ns distribution.Namespace, store *Store) distribution.Namespace {
	return gcNamespace{Namespace: ns, store: store}
}

type gcNamespace struct {
	distribution.Namespace
	store *Store
}

func (n gcNamespace) Enumerate(ctx context.Context, ingester func(string) error) error {
	e, ok := n.Namespace.(distribution.RepositoryEnumerator)
	if !ok {
		return errors.New("registry storage cannot enumerate repositories")
	}
	return e.Enumerate(ctx, ingester)
}

func (n gcNamespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	repo, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return gcRepository{Repository: repo, store: n.store}, nil
}

type gcRepository struct {
	distribution.Repository
	store *Store
}

func (r gcRepository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return gcManifests{ManifestService: ms, repo: r.Named().Name(), store: r.store}, nil
}

func (r gcRepository) Blobs(ctx context.Context) distribution.BlobStore {
	return gcBlobs{BlobStore: r.Repository.Blobs(ctx)}
}

type gcBlobs struct{ distribution.BlobStore }

func (b gcBlobs) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	return enumerateOnce(ctx, b.BlobStore, ingester)
}

type gcManifests struct {
	distribution.ManifestService
	repo  string
	store *Store
}

func (m gcManifests) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	return enumerateOnce(ctx, m.ManifestService, ingester)
}

func (m gcManifests) Get(ctx context.Context, dgst digest.Digest, options ...distribution.ManifestServiceOption) (distribution.Manifest, error) {
	mf, err := m.ManifestService.Get(ctx, dgst, options...)
	if err != nil {
		return nil, err
	}
	var extra []v1.Descriptor
	for _, ref := range mf.References() {
		if !IsAlias(ref.Digest) {
			continue
		}
		canonical, err := m.store.Resolve(ctx, m.repo, Layer, ref.Digest)
		if errors.Is(err, ErrNoAlias) {
			canonical, err = m.store.Resolve(ctx, m.repo, Revision, ref.Digest)
		}
		switch {
		case errors.Is(err, ErrNoAlias):
			// Referenced but never pushed (a sparse index): nothing to keep.
			continue
		case err != nil:
			return nil, fmt.Errorf("manifest %s of %s: %w", dgst, m.repo, err)
		}
		ref.Digest = canonical
		extra = append(extra, ref)
	}
	if len(extra) == 0 {
		return mf, nil
	}
	return gcManifest{Manifest: mf, extra: extra}, nil
}

type gcManifest struct {
	distribution.Manifest
	extra []v1.Descriptor
}

func (m gcManifest) References() []v1.Descriptor {
	return append(m.Manifest.References(), m.extra...)
}

// enumerateOnce enumerates what e enumerates, each digest once.
func enumerateOnce(ctx context.Context, e any, ingester func(digest.Digest) error) error {
	en, ok := e.(distribution.ManifestEnumerator)
	if !ok {
		return fmt.Errorf("registry storage: %T cannot enumerate", e)
	}
	seen := map[digest.Digest]bool{}
	return en.Enumerate(ctx, func(d digest.Digest) error {
		if seen[d] {
			return nil
		}
		seen[d] = true
		return ingester(d)
	})
}
