// Package referrers adds the OCI 1.1 referrers API to the embedded
// distribution registry, as a layer in front of it: GET
// /v2/<name>/referrers/<digest>, the OCI-Subject header on a manifest PUT
// with a subject, and the removal of a deleted referrer from its subject's
// list. The index lives in distribution's storage driver, next to the
// repository's own data, one small object per referrer (see Store).
package referrers

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifestFields are the parts of an image manifest or index that say
// whether it is a referrer and how it is listed.
type manifestFields struct {
	MediaType    string `json:"mediaType"`
	ArtifactType string `json:"artifactType"`
	Config       *struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Subject     *v1.Descriptor    `json:"subject"`
	Annotations map[string]string `json:"annotations"`
}

// Referrer is a manifest with a subject: the subject's digest and the
// descriptor the referrers list shows for the manifest.
type Referrer struct {
	Subject    digest.Digest
	Descriptor v1.Descriptor
}

// Describe reads a stored manifest (payload, stored under dgst, pushed with
// Content-Type contentType) and returns it as a referrer, or ok = false when
// it has no subject. The descriptor's artifactType is the manifest's own,
// or its config's media type when it has none (OCI 1.1 image spec).
func Describe(payload []byte, contentType string, dgst digest.Digest) (r Referrer, ok bool, err error) {
	var m manifestFields
	if err := json.Unmarshal(payload, &m); err != nil {
		return Referrer{}, false, fmt.Errorf("manifest %s: %w", dgst, err)
	}
	if m.Subject == nil {
		return Referrer{}, false, nil
	}
	if err := m.Subject.Digest.Validate(); err != nil {
		return Referrer{}, false, fmt.Errorf("manifest %s: subject digest %q: %w", dgst, m.Subject.Digest, err)
	}
	mediaType := m.MediaType
	if mediaType == "" {
		mediaType = contentType
	}
	artifactType := m.ArtifactType
	if artifactType == "" && m.Config != nil {
		artifactType = m.Config.MediaType
	}
	return Referrer{
		Subject: m.Subject.Digest,
		Descriptor: v1.Descriptor{
			MediaType:    mediaType,
			Digest:       dgst,
			Size:         int64(len(payload)),
			ArtifactType: artifactType,
			Annotations:  m.Annotations,
		},
	}, true, nil
}
