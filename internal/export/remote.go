package export

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Endpoint is how to reach one registry: credentials and TLS.
type Endpoint struct {
	Username, Password string
	// Insecure allows plain HTTP and TLS certificates that do not verify.
	Insecure bool
	// UserAgent names the client in the registry's logs.
	UserAgent string
}

// NameOptions are the options to parse references to this endpoint with.
func (ep Endpoint) NameOptions() []name.Option {
	opts := []name.Option{name.StrictValidation}
	if ep.Insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// ParseReference reads a full reference host[:port]/repo:tag or
// host[:port]/repo@digest; the registry host is required, since guessing
// Docker Hub is never right in a lab.
func (ep Endpoint) ParseReference(s string) (name.Reference, error) {
	first, _, ok := strings.Cut(s, "/")
	if !ok || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return nil, fmt.Errorf("reference %q: name the registry, as in host:port/repository:tag", s)
	}
	ref, err := name.ParseReference(s, ep.NameOptions()...)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", s, err)
	}
	return ref, nil
}

// RemoteOptions are the go-containerregistry options for this endpoint:
// its credentials (else those of the Docker config, as docker login left
// them), a transport with timeouts on connecting and on waiting for each
// response's headers (a blob's body may take as long as it needs), and the
// context.
func (ep Endpoint) RemoteOptions(ctx context.Context) []remote.Option {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.MaxIdleConnsPerHost = 16
	if ep.Insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with --insecure
	}
	opts := []remote.Option{remote.WithTransport(t), remote.WithContext(ctx), remote.WithJobs(4)}
	if ep.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(ep.UserAgent))
	}
	if ep.Username != "" || ep.Password != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: ep.Username, Password: ep.Password}))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	return opts
}
