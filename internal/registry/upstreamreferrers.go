package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"

	"github.com/registry-stack/registry-stack/internal/referrers"
)

// upstreamCallTimeout bounds one referrers listing at a cache's upstream,
// token exchange and every page included.
const upstreamCallTimeout = 30 * time.Second

// Bounds on one listing at the upstream. Past them the list is partial:
// the cache adds what it read and removes nothing. A registry-stack
// upstream pages at 1000 entries (or 1 MiB).
const (
	maxUpstreamReferrers = 10000
	maxUpstreamPages     = 100
	// maxUpstreamPageBytes is the manifest limit clients apply to an index.
	maxUpstreamPageBytes = 4 << 20
)

// maxUpstreamTransports bounds the per-repository transports kept (each
// holds one token); past it one is dropped and logs in again when used.
const maxUpstreamTransports = 1024

// upstreamReferrers lists referrers at a cache's upstream with the cache's
// credentials. distribution has no client for the referrers API and
// go-containerregistry's reads one page only, so pages are followed here;
// when the upstream has no referrers API its referrers tag (sha256-<hex>)
// is read, as go-containerregistry does.
type upstreamReferrers struct {
	base     *url.URL // scheme and host of the upstream
	registry name.Registry
	auth     authn.Authenticator
	// inner carries every request, token requests included; it refuses a
	// scheme other than the upstream's.
	inner http.RoundTripper

	mu sync.Mutex
	// transports holds one authenticated transport per repository, so its
	// token is reused rather than logging in at every listing.
	transports map[string]http.RoundTripper
	building   singleflight.Group
}

// newUpstreamReferrers builds the client; key names the setting remote_url
// came from, and base (nil: go-containerregistry's default) carries the
// requests.
func newUpstreamReferrers(p configuration.Proxy, key string, base http.RoundTripper) (*upstreamReferrers, error) {
	u, err := url.Parse(p.RemoteURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: not an http or https URL", key)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(u.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	var a authn.Authenticator = authn.Anonymous
	if p.Username != "" {
		a = &authn.Basic{Username: p.Username, Password: p.Password}
	}
	if base == nil {
		base = remote.DefaultTransport
	}
	return &upstreamReferrers{
		base:       &url.URL{Scheme: u.Scheme, Host: u.Host},
		registry:   reg,
		auth:       a,
		inner:      schemeGuard{scheme: u.Scheme, next: base},
		transports: map[string]http.RoundTripper{},
	}, nil
}

// schemeGuard refuses plain http when the upstream is https.
// go-containerregistry falls back from https to http for a private or
// loopback address, and follows the token realm the upstream names: the
// cache's credentials must not travel in clear to whoever answers there.
type schemeGuard struct {
	scheme string
	next   http.RoundTripper
}

func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.scheme == "https" && req.URL.Scheme != "https" {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("refused %s://%s: the upstream is https, so the cache sends nothing over plain http", req.URL.Scheme, req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

// Referrers lists subject's referrers in repo at the upstream, following
// its pages. complete is false when the list was cut at the bounds above
// or a later page failed (err then says why); descs holds what was read.
func (u *upstreamReferrers) Referrers(ctx context.Context, repo string, subject digest.Digest) (descs []v1.Descriptor, complete bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, upstreamCallTimeout)
	defer cancel()
	if err := subject.Validate(); err != nil {
		return nil, false, err
	}
	rt, err := u.transport(ctx, repo)
	if err != nil {
		return nil, false, err
	}
	client := &http.Client{Transport: rt, CheckRedirect: u.sameHost}
	next := u.base.JoinPath("v2", repo, "referrers", subject.String())
	for page := 0; next != nil; page++ {
		if page == maxUpstreamPages || len(descs) >= maxUpstreamReferrers {
			return descs, false, nil
		}
		var got []v1.Descriptor
		var api bool
		got, api, next, err = u.page(ctx, client, next)
		if err != nil {
			return descs, false, err
		}
		if !api && page > 0 {
			return descs, false, fmt.Errorf("referrers of %s at the upstream: page %d is not an image index", subject, page+1)
		}
		if !api {
			descs, err := u.tagFallback(ctx, client, repo, subject)
			return descs, err == nil, err
		}
		descs = append(descs, got...)
	}
	if len(descs) > maxUpstreamReferrers {
		return descs[:maxUpstreamReferrers], false, nil
	}
	return descs, true, nil
}

// page reads one page of a referrers listing and the next page's URL (nil
// for the last). api is false when the upstream has no referrers API: it
// answers 404, 400 or 406, or something other than an image index.
func (u *upstreamReferrers) page(ctx context.Context, client *http.Client, at *url.URL) (descs []v1.Descriptor, api bool, next *url.URL, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, at.String(), nil)
	if err != nil {
		return nil, false, nil, err
	}
	req.Header.Set("Accept", v1.MediaTypeImageIndex)
	resp, err := client.Do(req)
	if err != nil {
		return nil, false, nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound, http.StatusBadRequest, http.StatusNotAcceptable); err != nil {
		return nil, false, nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != v1.MediaTypeImageIndex {
		return nil, false, nil, nil
	}
	descs, err = readIndex(resp.Body)
	if err != nil {
		return nil, false, nil, fmt.Errorf("referrers of %s: %w", at.Redacted(), err)
	}
	if next, err = nextPage(resp.Request.URL, resp.Header.Values("Link")); err != nil {
		return nil, false, nil, err
	}
	if next != nil && next.Host != u.base.Host {
		return nil, false, nil, fmt.Errorf("referrers of %s: the next page is on another host (%s)", at.Redacted(), next.Host)
	}
	return descs, true, next, nil
}

// tagFallback reads the referrers tag of an upstream without a referrers
// API; no such tag means no referrers.
func (u *upstreamReferrers) tagFallback(ctx context.Context, client *http.Client, repo string, subject digest.Digest) ([]v1.Descriptor, error) {
	tag := subject.Algorithm().String() + "-" + subject.Encoded()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.JoinPath("v2", repo, "manifests", tag).String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", v1.MediaTypeImageIndex)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	descs, err := readIndex(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("referrers tag %s of %s: %w", tag, repo, err)
	}
	return descs, nil
}

func readIndex(body io.Reader) ([]v1.Descriptor, error) {
	b, err := io.ReadAll(io.LimitReader(body, maxUpstreamPageBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxUpstreamPageBytes {
		return nil, fmt.Errorf("an index larger than %d bytes", maxUpstreamPageBytes)
	}
	var idx v1.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("not an image index: %w", err)
	}
	return idx.Manifests, nil
}

// nextPage finds the rel="next" target among Link header values (RFC
// 8288), resolved against the page's URL; nil when there is none.
func nextPage(at *url.URL, links []string) (*url.URL, error) {
	for _, v := range links {
		for link := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			isNext := false
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") && strings.EqualFold(strings.Trim(strings.TrimSpace(val), `"`), "next") {
					isNext = true
				}
			}
			if !isNext {
				continue
			}
			ref, err := url.Parse(target[1 : len(target)-1])
			if err != nil {
				return nil, fmt.Errorf("upstream's Link header: %w", err)
			}
			return at.ResolveReference(ref), nil
		}
	}
	return nil, nil
}

// sameHost refuses a redirect away from the upstream: nothing the cache
// asks for there (listings and tags) lives elsewhere.
func (u *upstreamReferrers) sameHost(req *http.Request, via []*http.Request) error {
	if req.URL.Host != u.base.Host {
		return fmt.Errorf("the upstream redirected to another host (%s)", req.URL.Host)
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// transport returns repo's authenticated transport, building it (one ping
// and one login at the upstream) the first time. A failed build is not
// kept: the next listing tries again.
func (u *upstreamReferrers) transport(ctx context.Context, repo string) (http.RoundTripper, error) {
	u.mu.Lock()
	rt, ok := u.transports[repo]
	u.mu.Unlock()
	if ok {
		return rt, nil
	}
	ch := u.building.DoChan(repo, func() (any, error) {
		// Shared by the listings waiting for it: not cut short when the
		// first one's client goes away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamCallTimeout)
		defer cancel()
		rt, err := transport.NewWithContext(ctx, u.registry, u.auth, u.inner, []string{u.registry.Repo(repo).Scope(transport.PullScope)})
		if err != nil {
			return nil, err
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if len(u.transports) >= maxUpstreamTransports {
			for k := range u.transports {
				delete(u.transports, k)
				break
			}
		}
		u.transports[repo] = rt
		return rt, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(http.RoundTripper), nil
	}
}

// UpstreamReferrers lists referrers at the upstream of a pull-through
// cache; nil when the registry is none.
func (r *Registry) UpstreamReferrers() referrers.Upstream {
	if r.upstreamReferrers == nil {
		return nil
	}
	return r.upstreamReferrers
}
