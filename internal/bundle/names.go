// Package bundle defines how registry-stack names images inside an OCI
// image layout ("a bundle"), so that export, import and mirror agree with
// each other and with skopeo, podman and containerd.
//
// Every entry of a bundle's index.json carries
//   - org.opencontainers.image.ref.name: "<repository>:<tag>" or
//     "<repository>@<digest>" (the repository path without a registry host),
//     which skopeo's oci:DIR:REF accepts as REF;
//   - io.containerd.image.name: the same, for containerd's importer.
//
// Referrers (signatures, SBOMs) get their own entry named by digest, so an
// importer knows their repository without reading the subject.
package bundle

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/scope"
)

// MaxManifestBytes is the largest manifest distribution accepts (its
// default limit on a manifest PUT body): a bundle's documents read whole
// (index.json, manifests, configs) are refused beyond it.
const MaxManifestBytes = 4 << 20

// BlobPath is where a blob lives inside a layout, slash-separated:
// blobs/<algorithm>/<hex>. The hash's parser admits only hex digits, so it
// cannot name anything outside blobs/.
func BlobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// Annotation keys of an index.json entry.
const (
	AnnotationRefName   = "org.opencontainers.image.ref.name"
	AnnotationImageName = "io.containerd.image.name"
)

// anchoredTag is a whole tag: reference.TagRegexp alone matches inside a string.
var anchoredTag = regexp.MustCompile(`^` + reference.TagRegexp.String() + `$`)

// Name is where one image of a bundle belongs: a repository and either a
// tag or a digest.
type Name struct {
	Repository string
	Tag        string
	Digest     digest.Digest
}

// String is the entry's ref.name: repo:tag, or repo@digest without a tag.
func (n Name) String() string {
	if n.Tag != "" {
		return n.Repository + ":" + n.Tag
	}
	return n.Repository + "@" + n.Digest.String()
}

// Annotations are the ones an exporter writes on the index.json entry.
func (n Name) Annotations() map[string]string {
	s := n.String()
	return map[string]string{AnnotationRefName: s, AnnotationImageName: s}
}

// ParseName reads an entry's name. A ref.name holding a whole name
// ("team/app:1.0", as export writes it, or skopeo's oci:DIR:NAME) is taken
// as written: its repository path is kept whole, dots and all, and only a
// leading "host:port" or "localhost" component is dropped. Otherwise
// containerd's io.containerd.image.name, which is always fully qualified,
// gives the repository without its registry host. A bare tag (what skopeo
// and oras write by default) is returned with an empty Repository for the
// caller to fill in.
func ParseName(annotations map[string]string) (Name, error) {
	raw := annotations[AnnotationRefName]
	if strings.ContainsAny(raw, "/:@") {
		return parseWritten(raw)
	}
	if full := annotations[AnnotationImageName]; full != "" {
		return ParseReference(full)
	}
	if raw == "" {
		return Name{}, fmt.Errorf("no %s annotation", AnnotationRefName)
	}
	if !anchoredTag.MatchString(raw) {
		return Name{}, fmt.Errorf("%s %q is neither a tag nor a repository reference", AnnotationRefName, raw)
	}
	return Name{Tag: raw}, nil
}

// parseWritten reads "repo:tag", "repo@digest" or "repo:tag@digest"
// without normalizing the repository: "myapp" stays "myapp", not
// "library/myapp", and "acme.corp/app" keeps its first component.
func parseWritten(raw string) (Name, error) {
	rest, dgst, hasDigest := strings.Cut(raw, "@")
	var n Name
	if hasDigest {
		d, err := digest.Parse(dgst)
		if err != nil {
			return Name{}, fmt.Errorf("image name %q: %w", raw, err)
		}
		n.Digest = d
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, n.Tag = rest[:i], rest[i+1:]
		if !anchoredTag.MatchString(n.Tag) {
			return Name{}, fmt.Errorf("image name %q: invalid tag %q", raw, n.Tag)
		}
	}
	if first, path, ok := strings.Cut(rest, "/"); ok && (strings.Contains(first, ":") || first == "localhost") {
		rest = path
	}
	if err := scope.ValidateRepository(rest); err != nil || strings.Contains(rest, ":") {
		return Name{}, fmt.Errorf("image name %q: repository %q is not a repository path", raw, rest)
	}
	n.Repository = rest
	if n.Tag == "" && n.Digest == "" {
		return Name{}, fmt.Errorf("image name %q has neither a tag nor a digest", raw)
	}
	return n, nil
}

// ParseReference reads a name as docker and containerd do
// ("busybox:1" is docker.io/library/busybox:1) and keeps the repository
// path without the registry host: for docker save's RepoTags and
// containerd's image names. With both a tag and a digest, both are kept.
func ParseReference(raw string) (Name, error) {
	ref, err := reference.ParseNormalizedNamed(raw)
	if err != nil {
		return Name{}, fmt.Errorf("image name %q: %w", raw, err)
	}
	n := Name{Repository: reference.Path(ref)}
	if t, ok := ref.(reference.Tagged); ok {
		n.Tag = t.Tag()
	}
	if d, ok := ref.(reference.Digested); ok {
		n.Digest = d.Digest()
	}
	if n.Tag == "" && n.Digest == "" {
		return Name{}, fmt.Errorf("image name %q has neither a tag nor a digest", raw)
	}
	return n, nil
}
