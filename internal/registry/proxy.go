package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/api/errcode"

	"github.com/registry-stack/registry-stack/internal/config"
)

// upstreamCheckTimeout bounds the start-up call to a cache's upstream:
// distribution's own one has no timeout and would hang the start.
const upstreamCheckTimeout = 10 * time.Second

// proxyConfig maps proxy.* onto distribution's pull-through cache section.
// A ttl of 0 is distribution's "never expire".
func proxyConfig(p config.Proxy) configuration.Proxy {
	ttl := p.TTL.D()
	return configuration.Proxy{RemoteURL: p.RemoteURL, Username: p.Username, Password: p.Password, TTL: &ttl}
}

// Upstream is the base URL of the registry this one is a pull-through
// cache of; empty when it is none.
func (r *Registry) Upstream() string { return r.upstream }

// serveReadOnlyCache refuses a write to a pull-through cache before any
// authorization. distribution refuses them too (405 UNSUPPORTED) but says
// only "the operation is unsupported". The upstream is not named: the
// answer goes to anonymous clients as well.
func serveReadOnlyCache(w http.ResponseWriter) {
	w.Header().Set("Allow", "GET, HEAD")
	_ = errcode.ServeJSON(w, errcode.ErrorCodeUnsupported.WithMessage(
		"this registry is a read-only pull-through cache: push to and delete at its upstream registry"))
}

// checkUpstream asks the upstream's /v2/ once. distribution does the same
// when it builds a cache, to learn the upstream's token realm, and cannot
// start without an answer; asking first with a timeout turns a dead or
// unreachable upstream into one clear error instead of a hang or a panic.
// Any HTTP answer (401 included) will do.
func checkUpstream(ctx context.Context, remoteURL string) error {
	ctx, cancel := context.WithTimeout(ctx, upstreamCheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, remoteURL+"/v2/", nil)
	if err != nil {
		return &config.Error{Key: "proxy.remote_url", Msg: err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("proxy.remote_url: upstream %s does not answer (a cache needs it at start to learn where its tokens come from): %w", remoteURL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return nil
}
