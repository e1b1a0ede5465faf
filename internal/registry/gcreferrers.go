package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/digestalias"
	"github.com/registry-stack/registry-stack/internal/referrers"
)

// RemovedManifest is a manifest garbage collection removed (or would
// remove, in a dry run).
type RemovedManifest struct {
	Repository string
	Digest     digest.Digest
	// Referrer: it was a referrer whose subject is gone.
	Referrer bool
}

// manifestNode is one manifest of a repository, as the collection sees it.
type manifestNode struct {
	children []digest.Digest
	referrer *referrers.Referrer
	// unreadable manifests are kept: nothing is removed on a guess.
	unreadable bool
}

// collectManifests removes the manifests that are garbage, before
// distribution's mark-and-sweep frees the blobs only they used, and brings
// the referrers index in line with what is left. distribution's own
// untagged-manifest removal cannot run: it would remove every signature and
// SBOM, since nothing tags them and their subjects do not reference them.
// The rules, per repository:
//   - live are the roots (with RemoveUntagged the tagged manifests, else
//     every manifest that is not a referrer, and tagged ones), what a live
//     index references, and the referrers of a live manifest, transitively;
//   - every other manifest is removed: untagged manifests with
//     RemoveUntagged, and always a referrer whose subject is gone (deleted,
//     or never pushed);
//   - an index entry stays only when both its subject and its referrer
//     are live; a live referrer of a live subject without one gets one.
func collectManifests(ctx context.Context, driver storagedriver.StorageDriver, ns distribution.Namespace, aliases *digestalias.Store, opts GCOptions, res *GCResult) error {
	repos, ok := ns.(distribution.RepositoryEnumerator)
	if !ok {
		return errors.New("registry storage cannot enumerate repositories")
	}
	store := referrers.NewStore(driver)
	vacuum := storage.NewVacuum(ctx, driver)
	return repos.Enumerate(ctx, func(name string) error {
		named, err := reference.WithName(name)
		if err != nil {
			return fmt.Errorf("repository %q: %w", name, err)
		}
		repo, err := ns.Repository(ctx, named)
		if err != nil {
			return fmt.Errorf("repository %s: %w", name, err)
		}
		nodes, err := readManifests(ctx, repo)
		if err != nil {
			return fmt.Errorf("repository %s: %w", name, err)
		}
		allTags, tagged, err := readTags(ctx, repo)
		if err != nil {
			return fmt.Errorf("repository %s: %w", name, err)
		}
		canonical, err := subjectAliases(ctx, aliases, name, nodes)
		if err != nil {
			return fmt.Errorf("repository %s: %w", name, err)
		}
		live := liveManifests(nodes, tagged, canonical, opts.RemoveUntagged)
		for _, d := range slices.Sorted(maps.Keys(nodes)) {
			if live[d] {
				continue
			}
			res.ManifestsRemoved = append(res.ManifestsRemoved, RemovedManifest{Repository: name, Digest: d, Referrer: nodes[d].referrer != nil})
			if opts.DryRun {
				continue
			}
			if err := vacuum.RemoveManifest(name, d, allTags); err != nil {
				return fmt.Errorf("repository %s: removing manifest %s: %w", name, d, err)
			}
		}
		return syncIndex(ctx, store, name, nodes, live, opts.DryRun, res)
	})
}

// readManifests reads every manifest of repo: what it references and
// whether it is a referrer.
func readManifests(ctx context.Context, repo distribution.Repository) (map[digest.Digest]*manifestNode, error) {
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	enum, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return nil, errors.New("manifest service cannot enumerate manifests")
	}
	nodes := map[digest.Digest]*manifestNode{}
	err = enum.Enumerate(ctx, func(d digest.Digest) error {
		nodes[d] = &manifestNode{}
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return nil, fmt.Errorf("listing manifests: %w", err)
	}
	for d, n := range nodes {
		m, err := ms.Get(ctx, d)
		if err != nil {
			n.unreadable = true
			continue
		}
		for _, ref := range m.References() {
			n.children = append(n.children, ref.Digest)
		}
		mediaType, payload, err := m.Payload()
		if err != nil {
			n.unreadable = true
			continue
		}
		if r, ok, err := referrers.Describe(payload, mediaType, d); err == nil && ok {
			n.referrer = &r
		}
	}
	return nodes, nil
}

// readTags returns every tag of repo and the set of digests tags point at.
func readTags(ctx context.Context, repo distribution.Repository) ([]string, map[digest.Digest]bool, error) {
	ts := repo.Tags(ctx)
	all, err := ts.All(ctx)
	var unknown distribution.ErrRepositoryUnknown
	var notFound storagedriver.PathNotFoundError
	if errors.As(err, &unknown) || errors.As(err, &notFound) {
		return nil, map[digest.Digest]bool{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing tags: %w", err)
	}
	tagged := map[digest.Digest]bool{}
	for _, t := range all {
		desc, err := ts.Get(ctx, t)
		if err != nil {
			continue // a tag without a current link points at nothing
		}
		tagged[desc.Digest] = true
	}
	return all, tagged, nil
}

// subjectAliases maps each subject named by a sha512 (alias) digest to the
// sha256 digest its manifest is stored under, which is the one the
// collection knows it by.
func subjectAliases(ctx context.Context, aliases *digestalias.Store, repo string, nodes map[digest.Digest]*manifestNode) (map[digest.Digest]digest.Digest, error) {
	canonical := map[digest.Digest]digest.Digest{}
	for _, n := range nodes {
		if n.referrer == nil || !digestalias.IsAlias(n.referrer.Subject) {
			continue
		}
		d, err := aliases.Resolve(ctx, repo, digestalias.Revision, n.referrer.Subject)
		if errors.Is(err, digestalias.ErrNoAlias) {
			continue // the subject was never pushed (or is gone)
		}
		if err != nil {
			return nil, err
		}
		canonical[n.referrer.Subject] = d
	}
	return canonical, nil
}

// liveManifests computes the live set (see collectManifests). canonical
// maps subjects named by an alias digest to their stored digest; an alias
// is live when its stored manifest is.
func liveManifests(nodes map[digest.Digest]*manifestNode, tagged map[digest.Digest]bool, canonical map[digest.Digest]digest.Digest, removeUntagged bool) map[digest.Digest]bool {
	bySubject := map[digest.Digest][]digest.Digest{}
	var queue []digest.Digest
	for d, n := range nodes {
		if n.referrer != nil {
			subject := n.referrer.Subject
			if c, ok := canonical[subject]; ok {
				subject = c
			}
			bySubject[subject] = append(bySubject[subject], d)
		}
		if tagged[d] || n.unreadable || (!removeUntagged && n.referrer == nil) {
			queue = append(queue, d)
		}
	}
	live := map[digest.Digest]bool{}
	for len(queue) > 0 {
		d := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		n, ok := nodes[d]
		if !ok || live[d] {
			continue // a blob, or already visited
		}
		live[d] = true
		queue = append(queue, n.children...)
		queue = append(queue, bySubject[d]...)
	}
	for alias, c := range canonical {
		if live[c] {
			live[alias] = true
		}
	}
	return live
}

// syncIndex removes index entries whose subject or referrer is not live
// (and lists left empty) and adds the missing entries of live referrers of
// live subjects (such as manifests pushed before the index existed).
func syncIndex(ctx context.Context, store *referrers.Store, repo string, nodes map[digest.Digest]*manifestNode, live map[digest.Digest]bool, dryRun bool, res *GCResult) error {
	index, err := store.Index(ctx, repo)
	if err != nil {
		return err
	}
	type key struct{ subject, referrer digest.Digest }
	indexed := map[key]bool{}
	for subject, refs := range index {
		var stale []digest.Digest
		for _, referrer := range refs {
			n := nodes[referrer]
			if !live[subject] || !live[referrer] || n == nil || n.referrer == nil || n.referrer.Subject != subject {
				stale = append(stale, referrer)
				continue
			}
			indexed[key{subject, referrer}] = true
		}
		res.ReferrerEntriesRemoved += len(stale)
		if dryRun {
			continue
		}
		if len(stale) == len(refs) && !hasLiveReferrer(nodes, live, subject) {
			// Nothing left to list: the whole directory goes.
			if err := store.RemoveSubject(ctx, repo, subject); err != nil {
				return err
			}
			continue
		}
		for _, referrer := range stale {
			if err := store.Remove(ctx, repo, subject, referrer); err != nil {
				return err
			}
		}
	}
	for d, n := range nodes {
		if n.referrer != nil && live[d] && live[n.referrer.Subject] && !indexed[key{n.referrer.Subject, d}] {
			res.ReferrerEntriesAdded++
			if !dryRun {
				if err := store.Add(ctx, repo, *n.referrer); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// hasLiveReferrer reports whether a live manifest names subject as its
// subject (its entry is added back after the list is cleaned).
func hasLiveReferrer(nodes map[digest.Digest]*manifestNode, live map[digest.Digest]bool, subject digest.Digest) bool {
	if !live[subject] {
		return false
	}
	for d, n := range nodes {
		if n.referrer != nil && n.referrer.Subject == subject && live[d] {
			return true
		}
	}
	return false
}
