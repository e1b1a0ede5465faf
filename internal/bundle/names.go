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
	"github.com/opencontainers/go-digest"
)

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

// ParseName reads an entry's name, preferring containerd's full name over
// ref.name. A name with a registry host keeps only the repository path;
// a bare tag (what skopeo and oras write by default) is returned with
// an empty Repository for the caller to fill in.
func ParseName(annotations map[string]string) (Name, error) {
	raw := annotations[AnnotationImageName]
	if raw == "" {
		raw = annotations[AnnotationRefName]
	}
	if raw == "" {
		return Name{}, fmt.Errorf("no %s annotation", AnnotationRefName)
	}
	if !strings.ContainsAny(raw, "/:@") {
		if !anchoredTag.MatchString(raw) {
			return Name{}, fmt.Errorf("%s %q is neither a tag nor a repository reference", AnnotationRefName, raw)
		}
		return Name{Tag: raw}, nil
	}
	return ParseReference(raw)
}

// ParseReference reads "[host[:port]/]repo[:tag][@digest]" and keeps the
// repository path. With both a tag and a digest, both are kept.
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
