// Package mirror keeps a destination (a second registry or a bundle) in
// step with tags of upstream repositories: it compares each selected
// tag's upstream digest with what the destination holds and copies only
// those that differ, with their referrers.
package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/registry-stack/registry-stack/internal/bundle"
	"github.com/registry-stack/registry-stack/internal/endpoint"
	"github.com/registry-stack/registry-stack/internal/export"
	"github.com/registry-stack/registry-stack/internal/progress"
)

// Destination is where mirrored images go.
type Destination interface {
	// Current is the digest the destination holds for repo:tag; ok is
	// false when it holds none.
	Current(ctx context.Context, repo, tag string) (h v1.Hash, ok bool, err error)
	// Copy writes desc (from src) as repo:tag, with its referrers.
	Copy(ctx context.Context, src name.Repository, desc *remote.Descriptor, repo, tag string) error
	// SyncReferrers copies referrers of desc the destination lacks.
	SyncReferrers(ctx context.Context, src name.Repository, desc *remote.Descriptor, repo string) error
}

// Result counts selected tags by outcome.
type Result struct {
	Copied, Unchanged, Failed int
}

// Caps on what an upstream lists, so that a hostile or broken one cannot
// make a run grow without bound.
const (
	DefaultMaxTags      = 100_000
	DefaultMaxReferrers = 10_000
)

// Mirror runs one pass of a list.
type Mirror struct {
	Source  endpoint.Endpoint
	Puller  *remote.Puller
	Dest    Destination
	Display *progress.Display
	// MaxTags caps the tags listed per repository; 0 means
	// DefaultMaxTags.
	MaxTags int
}

// Run mirrors every selected tag of every listed repository; a tag that
// fails is counted and reported, and the others go on.
func (m *Mirror) Run(ctx context.Context, l *List) Result {
	var res Result
	for i := range l.Repositories {
		s := &l.Repositories[i]
		repo, err := name.NewRepository(s.Repository, m.Source.NameOptions()...)
		if err != nil {
			m.Display.Logf("failed %s: %v", s.Repository, err)
			res.Failed++
			continue
		}
		var upstream []string
		if s.NeedsListing() {
			if upstream, err = m.listTags(ctx, repo); err != nil {
				m.Display.Logf("failed %s: list tags: %v", repo, err)
				res.Failed++
				continue
			}
		}
		into := s.To
		if into == "" {
			into = repo.RepositoryStr()
		}
		tags, skipped := s.Select(upstream)
		for _, sk := range skipped {
			m.Display.Logf("skipped %s:%s: %s", repo, sk.Tag, sk.Reason)
		}
		for _, tag := range tags {
			copied, err := m.tag(ctx, repo.Tag(tag), into)
			switch {
			case err != nil:
				res.Failed++
				m.Display.Logf("failed %s: %v", repo.Tag(tag), err)
			case copied:
				res.Copied++
			default:
				res.Unchanged++
			}
			if ctx.Err() != nil {
				return res
			}
		}
	}
	return res
}

// listTags lists the tags of repo page by page, failing once there are
// more than MaxTags.
func (m *Mirror) listTags(ctx context.Context, repo name.Repository) ([]string, error) {
	limit := m.MaxTags
	if limit <= 0 {
		limit = DefaultMaxTags
	}
	l, err := m.Puller.Lister(ctx, repo)
	if err != nil {
		return nil, err
	}
	var tags []string
	for l.HasNext() {
		page, err := l.Next(ctx)
		if err != nil {
			return nil, err
		}
		tags = append(tags, page.Tags...)
		if len(tags) > limit {
			return nil, fmt.Errorf("more than %d tags; select them with tags: instead of semver or regex", limit)
		}
	}
	return tags, nil
}

func (m *Mirror) tag(ctx context.Context, src name.Tag, into string) (bool, error) {
	head, err := m.Puller.Head(ctx, src)
	if err != nil {
		return false, err
	}
	have, ok, err := m.Dest.Current(ctx, into, src.TagStr())
	if err != nil {
		return false, fmt.Errorf("destination %s:%s: %w", into, src.TagStr(), err)
	}
	desc, err := m.Puller.Get(ctx, src.Context().Digest(head.Digest.String()))
	if err != nil {
		return false, err
	}
	if ok && have == head.Digest {
		// Signatures and SBOMs are often added after the image.
		if err := m.Dest.SyncReferrers(ctx, src.Context(), desc, into); err != nil {
			return false, err
		}
		m.Display.Logf("unchanged %s (%s)", src, head.Digest)
		return false, nil
	}
	if err := m.Dest.Copy(ctx, src.Context(), desc, into, src.TagStr()); err != nil {
		return false, err
	}
	m.Display.Logf("copied %s (%s) to %s:%s", src, head.Digest, into, src.TagStr())
	return true, nil
}

// Bundle is a destination OCI layout, written by an export.Exporter.
type Bundle struct {
	Layout   *export.Layout
	Exporter *export.Exporter
}

// Current reads the layout's index.json entry repo:tag.
func (b *Bundle) Current(_ context.Context, repo, tag string) (v1.Hash, bool, error) {
	e, ok, err := b.Layout.Entry(bundle.Name{Repository: repo, Tag: tag})
	return e.Digest, ok, err
}

// Copy exports desc as repo:tag.
func (b *Bundle) Copy(ctx context.Context, src name.Repository, desc *remote.Descriptor, repo, tag string) error {
	_, err := b.Exporter.ExportAs(ctx, src, desc, bundle.Name{Repository: repo, Tag: tag})
	return err
}

// SyncReferrers walks desc again: its blobs are in the layout already,
// so only new referrers are fetched.
func (b *Bundle) SyncReferrers(ctx context.Context, src name.Repository, desc *remote.Descriptor, repo string) error {
	return b.Exporter.WalkReferrers(ctx, src, desc, repo)
}

// Registry is a destination registry.
type Registry struct {
	Endpoint endpoint.Endpoint
	Host     string // host[:port]
	Pusher   *remote.Pusher
	Puller   *remote.Puller // at the destination, for HEAD
	Source   *remote.Puller // upstream, for referrers
	Display  *progress.Display
	// MaxReferrers caps the referrers listed per subject; 0 means
	// DefaultMaxReferrers.
	MaxReferrers int
}

func (r *Registry) repo(path string) (name.Repository, error) {
	return name.NewRepository(r.Host+"/"+path, r.Endpoint.NameOptions()...)
}

// Current HEADs repo:tag at the destination.
func (r *Registry) Current(ctx context.Context, repo, tag string) (v1.Hash, bool, error) {
	dst, err := r.repo(repo)
	if err != nil {
		return v1.Hash{}, false, err
	}
	d, err := r.Puller.Head(ctx, dst.Tag(tag))
	if err != nil {
		if isNotFound(err) {
			return v1.Hash{}, false, nil
		}
		return v1.Hash{}, false, err
	}
	return d.Digest, true, nil
}

// Copy pushes desc (an index with every child, or an image) as repo:tag,
// streaming blobs from upstream, then its referrers.
func (r *Registry) Copy(ctx context.Context, src name.Repository, desc *remote.Descriptor, repo, tag string) error {
	dst, err := r.repo(repo)
	if err != nil {
		return err
	}
	if err := r.Pusher.Push(ctx, dst.Tag(tag), desc); err != nil {
		return fmt.Errorf("push to %s: %w", dst.Tag(tag), err)
	}
	return r.SyncReferrers(ctx, src, desc, repo)
}

// SyncReferrers copies the referrers of desc and of each of its child
// manifests, recursively, that the destination lacks.
func (r *Registry) SyncReferrers(ctx context.Context, src name.Repository, desc *remote.Descriptor, repo string) error {
	dst, err := r.repo(repo)
	if err != nil {
		return err
	}
	return r.referrers(ctx, src, dst, desc.Digest, desc.Manifest, map[v1.Hash]bool{})
}

// referrers copies the referrers of d and of its children; raw is d's
// content when d is an index (nil for an image, which has no children).
func (r *Registry) referrers(ctx context.Context, src, dst name.Repository, d v1.Hash, raw []byte, seen map[v1.Hash]bool) error {
	if seen[d] {
		return nil
	}
	seen[d] = true
	var m struct {
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", d, err)
		}
	}
	for _, child := range m.Manifests {
		content, err := r.indexContent(ctx, src, child)
		if err != nil {
			return err
		}
		if err := r.referrers(ctx, src, dst, child.Digest, content, seen); err != nil {
			return err
		}
	}
	list, err := r.listReferrers(ctx, src.Digest(d.String()))
	if err != nil {
		return err
	}
	for _, ref := range list {
		target := dst.Digest(ref.Digest.String())
		var content []byte
		if _, err := r.Puller.Head(ctx, target); err != nil {
			if !isNotFound(err) {
				return fmt.Errorf("referrer %s: %w", target, err)
			}
			desc, err := r.Source.Get(ctx, src.Digest(ref.Digest.String()))
			if err != nil {
				return fmt.Errorf("referrer %s of %s: %w", ref.Digest, d, err)
			}
			if err := r.Pusher.Push(ctx, target, desc); err != nil {
				return fmt.Errorf("push referrer to %s: %w", target, err)
			}
			r.Display.Logf("copied referrer %s of %s", ref.Digest, d)
			if desc.MediaType.IsIndex() {
				content = desc.Manifest
			}
		} else if content, err = r.indexContent(ctx, src, ref); err != nil {
			return err
		}
		// Referrers of referrers (a signature of an SBOM).
		if err := r.referrers(ctx, src, dst, ref.Digest, content, seen); err != nil {
			return err
		}
	}
	return nil
}

// indexContent fetches desc from upstream when it is an index, whose
// children may have referrers of their own; an image's is not needed.
func (r *Registry) indexContent(ctx context.Context, src name.Repository, desc v1.Descriptor) ([]byte, error) {
	if !desc.MediaType.IsIndex() {
		return nil, nil
	}
	got, err := r.Source.Get(ctx, src.Digest(desc.Digest.String()))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	return got.Manifest, nil
}

// listReferrers lists the referrers of subject upstream. go-containerregistry
// answers an empty list when upstream has neither the referrers API nor a
// fallback tag, so an error here is a real failure (denied, a server error,
// a timeout, a malformed list) and is not passed over: the tag would look
// mirrored while lacking its signatures.
func (r *Registry) listReferrers(ctx context.Context, subject name.Digest) ([]v1.Descriptor, error) {
	limit := r.MaxReferrers
	if limit <= 0 {
		limit = DefaultMaxReferrers
	}
	idx, err := remote.Referrers(subject, remote.Reuse(r.Source), remote.WithContext(ctx))
	var list *v1.IndexManifest
	if err == nil {
		list, err = idx.IndexManifest()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("list referrers of %s: %w", subject, err)
	}
	if len(list.Manifests) > limit {
		return nil, fmt.Errorf("list referrers of %s: more than %d referrers", subject, limit)
	}
	return list.Manifests, nil
}

// isNotFound tells a missing manifest from a failed request.
func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
