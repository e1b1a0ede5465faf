package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
// Any HTTP answer (401 included) will do. key names the setting remoteURL
// came from; the URL is printed without its password
// (distribution.proxy.remoteurl is passed through unchecked and may hold
// one).
func checkUpstream(ctx context.Context, key, remoteURL string) error {
	ctx, cancel := context.WithTimeout(ctx, upstreamCheckTimeout)
	defer cancel()
	u, err := url.Parse(remoteURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse's error repeats the URL, password and all.
		return &config.Error{Key: key, Msg: "not an http or https URL"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath("v2").String()+"/", nil)
	if err != nil {
		return &config.Error{Key: key, Msg: fmt.Sprintf("%s: not a usable URL", u.Redacted())}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// Reported without err's text, which names the request URL as given.
		return fmt.Errorf("%s: upstream %s does not answer (a cache needs it at start to learn where its tokens come from): %w", key, u.Redacted(), redactedURLError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return nil
}

// redactedURLError strips the URL (and any password in it) from a
// client error, keeping its cause.
func redactedURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
