package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/registry-stack/registry-stack/internal/referrers"
)

// upstreamCallTimeout bounds one referrers listing at a cache's upstream,
// token exchange included.
const upstreamCallTimeout = 30 * time.Second

// upstreamReferrers lists referrers at a cache's upstream with the cache's
// credentials. distribution has no client for the referrers API, so
// go-containerregistry's is used; it falls back to the referrers tag
// (sha256-<hex>) when the upstream has no referrers API.
type upstreamReferrers struct {
	registry name.Registry
	auth     authn.Authenticator
}

func newUpstreamReferrers(p configuration.Proxy) (*upstreamReferrers, error) {
	u, err := url.Parse(p.RemoteURL)
	if err != nil {
		return nil, fmt.Errorf("proxy.remote_url: %w", err)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(u.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("proxy.remote_url: %w", err)
	}
	var a authn.Authenticator = authn.Anonymous
	if p.Username != "" {
		a = &authn.Basic{Username: p.Username, Password: p.Password}
	}
	return &upstreamReferrers{registry: reg, auth: a}, nil
}

// Referrers lists subject's referrers in repo at the upstream.
func (u *upstreamReferrers) Referrers(ctx context.Context, repo string, subject digest.Digest) ([]v1.Descriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, upstreamCallTimeout)
	defer cancel()
	ref := u.registry.Repo(repo).Digest(subject.String())
	idx, err := remote.Referrers(ref, remote.WithContext(ctx), remote.WithAuth(u.auth))
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	// go-containerregistry's descriptor type to the OCI one, by their
	// shared JSON form.
	raw, err := json.Marshal(m.Manifests)
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpstreamReferrers lists referrers at the upstream of a pull-through
// cache; nil when the registry is none.
func (r *Registry) UpstreamReferrers() referrers.Upstream {
	if r.upstreamReferrers == nil {
		return nil
	}
	return r.upstreamReferrers
}
