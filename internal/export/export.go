// Package export copies images from a registry into an OCI image layout
// (a bundle, named as internal/bundle defines): every platform of an
// index, every blob, and the referrers (signatures, SBOMs) of each
// manifest, recursively. Blobs already in the layout are skipped, so an
// interrupted export resumes where it stopped.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/registry-stack/registry-stack/internal/bundle"
	"github.com/registry-stack/registry-stack/internal/progress"
)

// LargeBlob is the size from which a finished blob gets its own log line.
const LargeBlob = 16 << 20

// MaxDepth is how deep children and referrers may nest below a reference
// (an index, its platform manifests, their signatures, the signatures'
// own referrers...); a registry that lists deeper is not followed.
const MaxDepth = 8

// Options configure an Exporter.
type Options struct {
	// Puller fetches from the source registry; built with the source's
	// auth and transport (see Remote).
	Puller *remote.Puller
	// Display receives log lines and counts bytes.
	Display *progress.Display
	// Jobs is how many blobs of one image are fetched at once (default 4).
	Jobs int
}

// Stats sum up what an Exporter did.
type Stats struct {
	Images       int64 // references and referrers exported
	BlobsWritten int64 // blobs (manifests included) fetched and written
	BlobsSkipped int64 // blobs already in the layout
	Bytes        int64 // bytes fetched
}

// Exporter writes images into one layout.
type Exporter struct {
	layout  *Layout
	puller  *remote.Puller
	display *progress.Display
	jobs    int

	images, written, skipped, bytes atomic.Int64
	// seen holds manifests completed in this run (with their referrers),
	// so shared children and referrers are walked once.
	seenMu sync.Mutex
	seen   map[v1.Hash]bool
}

// New returns an Exporter writing into layout.
func New(layout *Layout, opts Options) *Exporter {
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	return &Exporter{layout: layout, puller: opts.Puller, display: opts.Display, jobs: jobs, seen: map[v1.Hash]bool{}}
}

// Stats returns the counts so far.
func (e *Exporter) Stats() Stats {
	return Stats{Images: e.images.Load(), BlobsWritten: e.written.Load(), BlobsSkipped: e.skipped.Load(), Bytes: e.bytes.Load()}
}

// Name is the bundle name of a reference: its repository path and its tag,
// or its digest when it has no tag.
func Name(ref name.Reference) bundle.Name {
	n := bundle.Name{Repository: ref.Context().RepositoryStr()}
	switch r := ref.(type) {
	case name.Tag:
		n.Tag = r.TagStr()
	case name.Digest:
		n.Digest = digestOf(r.DigestStr())
	}
	return n
}

// Export copies ref and everything it needs into the layout and records it
// in index.json under Name(ref). It returns the digest written.
func (e *Exporter) Export(ctx context.Context, ref name.Reference) (v1.Descriptor, error) {
	desc, err := e.puller.Get(ctx, ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	n := Name(ref)
	entry, err := e.ExportAs(ctx, ref.Context(), desc, n)
	if err == nil {
		e.display.Logf("exported %s (%s)", n, entry.Digest)
	}
	return entry, err
}

// ExportAs copies the manifest desc (fetched from repo) and everything it
// needs into the layout, and records it in index.json as n; its referrers
// are recorded in n's repository.
func (e *Exporter) ExportAs(ctx context.Context, repo name.Repository, desc *remote.Descriptor, n bundle.Name) (v1.Descriptor, error) {
	if _, err := e.manifest(ctx, repo, n.Repository, desc.Descriptor, desc.Manifest); err != nil {
		return v1.Descriptor{}, err
	}
	entry := v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: desc.ArtifactType, Annotations: n.Annotations()}
	if err := e.layout.AddEntries(entry); err != nil {
		return v1.Descriptor{}, err
	}
	e.images.Add(1)
	return entry, nil
}

// WalkReferrers goes over desc again without recording an entry for it:
// what the layout holds is not fetched again, new referrers are.
func (e *Exporter) WalkReferrers(ctx context.Context, repo name.Repository, desc *remote.Descriptor, into string) error {
	_, err := e.manifest(ctx, repo, into, desc.Descriptor, desc.Manifest)
	return err
}

// manifestContent is what a manifest of any kind points at.
type manifestContent struct {
	MediaType    types.MediaType `json:"mediaType"`
	ArtifactType string          `json:"artifactType"`
	Config       *v1.Descriptor  `json:"config"`
	Layers       []v1.Descriptor `json:"layers"`
	Manifests    []v1.Descriptor `json:"manifests"`
	Blobs        []v1.Descriptor `json:"blobs"` // the short-lived OCI artifact manifest
	Subject      *v1.Descriptor  `json:"subject"`
}

// errNotReferrer marks a manifest a referrers list names although its
// subject is another: a broken or hostile source, skipped.
var errNotReferrer = errors.New("not a referrer")

// walk is where manifest is in the tree below one reference: the digests
// above it (in progress, so a list naming one of them is a cycle) and, for
// a referrer, the subject it must name.
type walk struct {
	ancestors []v1.Hash
	subject   *v1.Hash
}

func (w walk) below(d v1.Hash) walk {
	return walk{ancestors: append(w.ancestors[:len(w.ancestors):len(w.ancestors)], d)}
}

// manifest copies one manifest from repo, what it points at and its
// referrers (named in the bundle repository into); raw is its content when
// the caller already has it. It returns the manifest's descriptor as its
// content says (media type, size, artifact type).
func (e *Exporter) manifest(ctx context.Context, repo name.Repository, into string, d v1.Descriptor, raw []byte) (v1.Descriptor, error) {
	return e.walk(ctx, repo, into, d, raw, walk{})
}

func (e *Exporter) walk(ctx context.Context, repo name.Repository, into string, d v1.Descriptor, raw []byte, w walk) (v1.Descriptor, error) {
	if len(w.ancestors) > MaxDepth {
		return v1.Descriptor{}, fmt.Errorf("manifest %s: children and referrers nest more than %d deep below %s", d.Digest, MaxDepth, w.ancestors[0])
	}
	if d.Size > bundle.MaxManifestBytes {
		return v1.Descriptor{}, fmt.Errorf("manifest %s: %d bytes, over the %d byte limit for manifests", d.Digest, d.Size, bundle.MaxManifestBytes)
	}
	if raw == nil {
		b, ok, err := e.layout.ReadBlob(d.Digest, d.Size)
		if err != nil {
			return v1.Descriptor{}, err
		}
		if ok {
			raw = b
		} else {
			got, err := e.puller.Get(ctx, repo.Digest(d.Digest.String()))
			if err != nil {
				return v1.Descriptor{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
			}
			raw = got.Manifest
		}
	}
	if int64(len(raw)) != d.Size {
		return v1.Descriptor{}, fmt.Errorf("manifest %s: %d bytes, its descriptor says %d", d.Digest, len(raw), d.Size)
	}
	var m manifestContent
	if err := json.Unmarshal(raw, &m); err != nil {
		return v1.Descriptor{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if m.MediaType == "" {
		m.MediaType = d.MediaType
	}
	if w.subject != nil && (m.Subject == nil || m.Subject.Digest != *w.subject) {
		return v1.Descriptor{}, errNotReferrer
	}
	got := v1.Descriptor{MediaType: m.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: m.ArtifactType}
	if got.ArtifactType == "" && m.Config != nil && m.Subject != nil {
		// What the referrers API reports for a referrer without one.
		got.ArtifactType = string(m.Config.MediaType)
	}
	e.seenMu.Lock()
	done := e.seen[d.Digest]
	e.seenMu.Unlock()
	if done {
		return got, nil
	}
	if m.MediaType.IsSchema1() {
		return v1.Descriptor{}, fmt.Errorf("manifest %s: schema 1 manifests are not supported", d.Digest)
	}
	below := w.below(d.Digest)
	for _, child := range m.Manifests {
		if _, err := e.walk(ctx, repo, into, child, nil, below); err != nil {
			return v1.Descriptor{}, err
		}
	}
	var blobs []v1.Descriptor
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	blobs = append(append(blobs, m.Layers...), m.Blobs...)
	if err := e.blobs(ctx, repo, blobs); err != nil {
		return v1.Descriptor{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	// The manifest goes last: a manifest in the layout means its content is.
	if e.layout.HasBlob(d.Digest, d.Size) {
		e.skipped.Add(1)
	} else {
		if err := e.layout.WriteManifestBlob(d.Digest, raw); err != nil {
			return v1.Descriptor{}, err
		}
		e.written.Add(1)
		e.bytes.Add(int64(len(raw)))
	}
	if err := e.referrers(ctx, repo, into, d.Digest, below); err != nil {
		return v1.Descriptor{}, err
	}
	e.seenMu.Lock()
	e.seen[d.Digest] = true
	e.seenMu.Unlock()
	return got, nil
}

// referrers exports every manifest that names d as its subject, each under
// its own entry into@digest. A source without a referrers API has none
// (ggcr then finds no fallback tag either); failing to list them fails.
func (e *Exporter) referrers(ctx context.Context, repo name.Repository, into string, d v1.Hash, w walk) error {
	idx, err := remote.Referrers(repo.Digest(d.String()), remote.Reuse(e.puller), remote.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("list referrers of %s: %w", d, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("list referrers of %s: %w", d, err)
	}
	for _, r := range m.Manifests {
		if slices.Contains(w.ancestors, r.Digest) {
			e.display.Logf("referrer %s of %s skipped: it is %s itself or above it", r.Digest, d, d)
			continue
		}
		rw := w
		rw.subject = &d
		got, err := e.walk(ctx, repo, into, r, nil, rw)
		if errors.Is(err, errNotReferrer) {
			e.display.Logf("referrer %s of %s skipped: its subject is not %s", r.Digest, d, d)
			continue
		}
		if err != nil {
			return fmt.Errorf("referrer %s of %s: %w", r.Digest, d, err)
		}
		n := bundle.Name{Repository: into, Digest: digestOf(r.Digest.String())}
		got.Annotations = n.Annotations()
		if err := e.layout.AddEntries(got); err != nil {
			return err
		}
		e.images.Add(1)
	}
	return nil
}

// blobs copies the blobs the layout lacks, a few at a time.
func (e *Exporter) blobs(ctx context.Context, repo name.Repository, blobs []v1.Descriptor) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(e.jobs)
	queued := map[v1.Hash]bool{}
	for _, b := range blobs {
		if queued[b.Digest] {
			continue
		}
		queued[b.Digest] = true
		if e.layout.HasBlob(b.Digest, b.Size) {
			e.skipped.Add(1)
			continue
		}
		g.Go(func() error { return e.blob(ctx, repo, b) })
	}
	return g.Wait()
}

func (e *Exporter) blob(ctx context.Context, repo name.Repository, b v1.Descriptor) error {
	meter := e.display.Meter()
	meter.AddTotal(b.Size)
	err := e.fetch(ctx, repo, b)
	if err != nil && len(b.URLs) > 0 && !b.MediaType.IsDistributable() && ctx.Err() == nil {
		// A foreign layer lives elsewhere by design; without it the
		// bundle is what a registry holds: the reference only.
		e.display.Logf("non-distributable blob %s not copied: %v", b.Digest, err)
		return nil
	}
	if err != nil {
		return err
	}
	e.written.Add(1)
	e.bytes.Add(b.Size)
	if b.Size >= LargeBlob {
		e.display.Logf("blob %s done (%s)", b.Digest, progress.Bytes(b.Size))
	}
	return nil
}

func (e *Exporter) fetch(ctx context.Context, repo name.Repository, b v1.Descriptor) error {
	l, err := e.puller.Layer(ctx, repo.Digest(b.Digest.String()))
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	if err := e.layout.WriteBlob(b.Digest, b.Size, e.display.Meter().Reader(rc)); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// digestOf converts a digest string ggcr has already validated.
func digestOf(s string) digest.Digest { return digest.Digest(s) }
