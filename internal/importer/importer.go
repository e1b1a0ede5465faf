// Package importer pushes the images of a bundle — an OCI image layout
// (a directory or a tar of one, as registry-stack export, skopeo, podman
// and oras write) or a docker save archive — into a registry, with every
// platform, every referrer and every blob checked against its digest on
// the way. Names follow internal/bundle.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/bundle"
	"github.com/registry-stack/registry-stack/internal/endpoint"
	"github.com/registry-stack/registry-stack/internal/progress"
)

// Options say what to import and where.
type Options struct {
	Path     string // the bundle: a directory or a tar file
	Registry string // host[:port] of the target registry
	// Endpoint logs in (Basic, or exchanged for a Bearer token when the
	// registry asks for one) and says whether plain HTTP and any TLS
	// certificate are allowed.
	Endpoint endpoint.Endpoint
	// Prefix re-homes every repository under it ("lab" → lab/team/app).
	Prefix string
	// Repository names images the bundle gives only a tag; default: the
	// bundle's file or directory name.
	Repository string
	// Transport is the base HTTP transport; default: the endpoint's.
	Transport http.RoundTripper
	// Display gets notes, one line per image and the bytes pushed; nil:
	// nothing is shown.
	Display *progress.Display
}

// logf is a line on the display, if there is one.
func (o Options) logf(format string, args ...any) {
	if o.Display != nil {
		o.Display.Logf(format, args...)
	}
}

// UsageError is a bundle or an option the user must fix (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Result is one image of the bundle.
type Result struct {
	Name   string  // repository:tag or repository@digest, as pushed
	Digest v1.Hash // the manifest's digest, when known
	Err    error   // nil when imported
}

// Report is what an import did.
type Report struct {
	Images        []Result
	BlobsUploaded int
	BytesUploaded int64
	BlobsSkipped  int
	BytesSkipped  int64
	// ManifestsWritten counts manifests (images, indexes, their children)
	// put; ManifestsPresent those the registry had already, under the
	// same tag or digest, so that neither they nor their blobs were sent.
	ManifestsWritten int
	ManifestsPresent int
	Elapsed          time.Duration
}

// Failed counts the images not imported.
func (r *Report) Failed() int {
	n := 0
	for _, i := range r.Images {
		if i.Err != nil {
			n++
		}
	}
	return n
}

// Write prints the report: one line per image, then the totals.
func (r *Report) Write(w io.Writer) {
	for _, i := range r.Images {
		if i.Err != nil {
			fmt.Fprintf(w, "failed   %s: %v\n", i.Name, i.Err)
			continue
		}
		fmt.Fprintf(w, "imported %s -> %s\n", i.Name, i.Digest)
	}
	secs := r.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(r.BytesUploaded) / 1e6 / secs
	}
	fmt.Fprintf(w, "images: %d imported, %d failed; blobs: %d uploaded (%s), %d skipped as already present (%s); manifests: %d written, %d already present; %.1f s, %.1f MB/s\n",
		len(r.Images)-r.Failed(), r.Failed(), r.BlobsUploaded, megabytes(r.BytesUploaded), r.BlobsSkipped, megabytes(r.BytesSkipped), r.ManifestsWritten, r.ManifestsPresent, secs, rate)
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// item is one image to push under one or more names.
type item struct {
	names []bundle.Name
	// load reads (and verifies) the image or index for one push: digest
	// mismatches found while pushing are recorded in f, blob bytes read
	// counted with count.
	load func(ctx context.Context, f *faults, count func(int64)) (remoteTaggable, error)
	err  error  // naming failed: nothing to push
	raw  string // how the report names an item whose naming failed
	// entry is the index.json entry's digest (OCI layouts only).
	entry v1.Hash
}

// Run imports the bundle. The error is for a bundle that cannot be read at
// all (a *UsageError); failures of single images are in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	if o.Display == nil {
		o.Display = progress.NewDisplay(io.Discard, false, progress.NewMeter(time.Now))
	}
	reg, err := o.Endpoint.Registry(o.Registry)
	if err != nil {
		return nil, &UsageError{fmt.Errorf("--to %w", err)}
	}
	if o.Prefix != "" {
		if _, err := name.NewRepository(o.Prefix + "/x"); err != nil || strings.HasSuffix(o.Prefix, "/") {
			return nil, &UsageError{fmt.Errorf("--prefix %q is not a repository path", o.Prefix)}
		}
	}
	src, format, err := openSource(o.Path)
	if err != nil {
		return nil, &UsageError{err}
	}
	defer src.close()
	o.logf("reading %s: %s", o.Path, format)
	var items []item
	if format == formatOCI {
		items, err = ociItems(src, o)
	} else {
		items, err = dockerItems(src)
	}
	if err != nil {
		return nil, &UsageError{err}
	}

	meter := o.Display.Meter()
	meter.AddTotal(bundleBytes(src))
	base := o.Transport
	if base == nil {
		base = o.Endpoint.Transport()
	}
	c := newCounter(base, meter.Add)
	opts := o.Endpoint.RemoteOptions(ctx, c)
	rep := &Report{}
	for _, it := range order(items) {
		for _, n := range it.names {
			if o.Prefix != "" {
				n.Repository = o.Prefix + "/" + n.Repository
			}
			res := Result{Name: n.String()}
			if it.err != nil {
				res.Name = it.raw
				res.Err = it.err
				rep.Images = append(rep.Images, res)
				continue
			}
			if err := ctx.Err(); err != nil {
				res.Err = fmt.Errorf("interrupted before it started")
				rep.Images = append(rep.Images, res)
				continue
			}
			res.Digest, res.Err = push(ctx, reg, o, n, it, opts)
			if res.Err != nil {
				o.logf("failed %s: %v", res.Name, res.Err)
			} else {
				o.logf("imported %s -> %s", res.Name, res.Digest)
			}
			rep.Images = append(rep.Images, res)
		}
	}
	rep.BlobsUploaded, rep.BytesUploaded, rep.BlobsSkipped, rep.BytesSkipped = c.totals()
	rep.ManifestsWritten, rep.ManifestsPresent = c.manifests()
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// order pushes tagged images before those named by digest: the latter are
// referrers (signatures, SBOMs), whose subject should be there first.
func order(items []item) []item {
	var tagged, byDigest []item
	for _, it := range items {
		if len(it.names) > 0 && it.names[0].Tag == "" {
			byDigest = append(byDigest, it)
		} else {
			tagged = append(tagged, it)
		}
	}
	return append(tagged, byDigest...)
}

func push(ctx context.Context, reg name.Registry, o Options, n bundle.Name, it item, opts []remote.Option) (v1.Hash, error) {
	repo, err := name.NewRepository(reg.Name()+"/"+n.Repository, o.Endpoint.NameOptions()...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("repository %q: %w", n.Repository, err)
	}
	var ref name.Reference = repo.Tag(n.Tag)
	if n.Tag == "" {
		ref = repo.Digest(n.Digest.String())
	}
	f := &faults{}
	t, err := it.load(ctx, f, o.Display.Meter().Add)
	if err != nil {
		return v1.Hash{}, describe(faultOr(f, err), n.Repository)
	}
	d, err := t.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if n.Tag == "" && d.String() != n.Digest.String() {
		return d, fmt.Errorf("the bundle names manifest %s by digest %s", d, n.Digest)
	}
	o.logf("pushing %s", n)
	switch v := t.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, v, opts...)
	case v1.Image:
		err = remote.Write(ref, v, opts...)
	default:
		err = fmt.Errorf("manifest %s is neither an image nor an index", d)
	}
	if err != nil {
		return d, describe(faultOr(f, err), n.Repository)
	}
	return d, nil
}

// faultOr prefers the digest mismatch behind err, if there was one.
func faultOr(f *faults, err error) error {
	if de := f.get(); de != nil {
		return de
	}
	return err
}

// describe turns registry refusals into one clear line.
func describe(err error, repo string) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden:
		case te.Request != nil && !strings.HasPrefix(te.Request.URL.Path, "/v2/"):
			// The token endpoint, not the registry, said no.
			return fmt.Errorf("login refused: the token endpoint %s answered HTTP %d for push access to repository %q (check --username and the password): %w", te.Request.URL.Host+te.Request.URL.Path, te.StatusCode, repo, err)
		default:
			return fmt.Errorf("denied: the registry refused push access to repository %q (HTTP %d; check the account's rights): %w", repo, te.StatusCode, err)
		}
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted: run the same import again to finish it (blobs already stored are skipped)")
	}
	return err
}

// ociItems names every entry of index.json.
func ociItems(src source, o Options) ([]item, error) {
	r, size, err := src.open("index.json")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if size > maxDocument {
		return nil, fmt.Errorf("index.json is %d bytes, more than %d", size, maxDocument)
	}
	idx, err := v1.ParseIndexManifest(io.LimitReader(r, maxDocument))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	if len(idx.Manifests) == 0 {
		return nil, fmt.Errorf("index.json lists no images")
	}
	var items []item
	var unnamed []v1.Descriptor
	repoOf := map[v1.Hash]string{} // a named entry's digest → its repository
	noted := false
	for _, desc := range idx.Manifests {
		desc := desc
		it := item{raw: "entry " + desc.Digest.String(), entry: desc.Digest}
		if desc.Size <= 0 {
			// The manifest is read checked against its size: without one
			// it would be refused as a mismatch, which it is not.
			it.err = fmt.Errorf("index.json entry %s has no size", desc.Digest)
			it.names = []bundle.Name{{}}
			items = append(items, it)
			continue
		}
		if desc.Annotations[bundle.AnnotationRefName] == "" && desc.Annotations[bundle.AnnotationImageName] == "" {
			unnamed = append(unnamed, desc)
			continue
		}
		n, err := bundle.ParseName(desc.Annotations)
		switch {
		case err != nil:
			it.err = fmt.Errorf("index.json entry %s: %w", desc.Digest, err)
		case n.Repository == "":
			repo, from, err := bareRepository(o)
			if err != nil {
				it.raw = n.Tag
				it.err = err
				break
			}
			n.Repository = repo
			if !noted {
				o.logf("note: the bundle names images by tag alone (%q): repository %q taken from %s", n.Tag, repo, from)
				noted = true
			}
		}
		if n.Tag == "" && n.Digest == "" && it.err == nil {
			it.err = fmt.Errorf("index.json entry %s has no tag", desc.Digest)
		}
		it.names = []bundle.Name{n}
		it.load = func(_ context.Context, f *faults, count func(int64)) (remoteTaggable, error) {
			return ociBundle{src: src, faults: f, count: count}.manifest(desc)
		}
		items = append(items, it)
		if it.err == nil {
			repoOf[desc.Digest] = n.Repository
		}
	}
	for _, desc := range unnamed {
		items = append(items, referrerItem(src, desc, repoOf))
	}
	return items, nil
}

// referrerItem names an index.json entry without a name, as oras attach
// writes them: a manifest whose subject is a named entry of the bundle is
// pushed by digest into that entry's repository.
func referrerItem(src source, desc v1.Descriptor, repoOf map[v1.Hash]string) item {
	it := item{raw: "entry " + desc.Digest.String(), entry: desc.Digest, names: []bundle.Name{{}}}
	raw, err := readManifest(src, desc, &faults{})
	if err != nil {
		it.err = err
		return it
	}
	var m struct {
		Subject *v1.Descriptor `json:"subject"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Subject == nil {
		it.err = fmt.Errorf("index.json entry %s has no %s annotation and no subject: nothing names its repository", desc.Digest, bundle.AnnotationRefName)
		return it
	}
	repo, ok := repoOf[m.Subject.Digest]
	if !ok {
		it.err = fmt.Errorf("index.json entry %s has no name and its subject %s is no named entry of the bundle: nothing names its repository", desc.Digest, m.Subject.Digest)
		return it
	}
	it.names = []bundle.Name{{Repository: repo, Digest: digest.Digest(desc.Digest.String())}}
	it.load = func(_ context.Context, f *faults, count func(int64)) (remoteTaggable, error) {
		return ociBundle{src: src, faults: f, count: count}.manifest(desc)
	}
	return it
}

// bareRepository is the repository for entries named by a tag alone.
func bareRepository(o Options) (repo, from string, err error) {
	if o.Repository != "" {
		if _, err := name.NewRepository(o.Repository); err != nil {
			return "", "", fmt.Errorf("--repository %q: %w", o.Repository, err)
		}
		return o.Repository, "--repository", nil
	}
	stem := filepath.Base(filepath.Clean(o.Path))
	if st, err := os.Stat(o.Path); err == nil && !st.IsDir() {
		stem = strings.TrimSuffix(stem, filepath.Ext(stem))
	}
	if _, err := name.NewRepository(stem); err != nil || strings.ContainsAny(stem, ".:") {
		return "", "", fmt.Errorf("the bundle names this image by a tag alone and its file name %q is no repository name: pass --repository", stem)
	}
	return stem, fmt.Sprintf("the bundle's name (%s; --repository sets another)", filepath.Base(o.Path)), nil
}

// dockerItems names every image of manifest.json by its RepoTags.
func dockerItems(src source) ([]item, error) {
	entries, err := readDockerManifest(src)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("manifest.json lists no images")
	}
	var items []item
	for _, e := range entries {
		e := e
		it := item{raw: "image " + e.Config}
		for _, tag := range e.RepoTags {
			n, err := bundle.ParseReference(tag)
			if err != nil {
				it.err = fmt.Errorf("manifest.json: %w", err)
				it.raw = tag
				break
			}
			it.names = append(it.names, n)
		}
		if len(e.RepoTags) == 0 {
			it.err = fmt.Errorf("manifest.json lists image %s without RepoTags: nothing names it", e.Config)
		}
		if it.err != nil {
			it.names = []bundle.Name{{}}
		}
		// The layers are measured once per image, not once per tag; each
		// tag's push reads them with its own faults.
		var once sync.Once
		var measured *dockerMeasured
		var loadErr error
		it.load = func(ctx context.Context, f *faults, count func(int64)) (remoteTaggable, error) {
			once.Do(func() { measured, loadErr = dockerImage(ctx, src, e) })
			if loadErr != nil {
				return nil, loadErr
			}
			return measured.image(f, count)
		}
		items = append(items, it)
	}
	return items, nil
}

// bundleBytes is the size of the bundle's files, for the progress ETA.
func bundleBytes(src source) int64 {
	var total int64
	switch s := src.(type) {
	case *tarSource:
		for _, m := range s.members {
			total += m.size
		}
	case dirSource:
		_ = fs.WalkDir(s.root.FS(), ".", func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
	}
	return total
}
