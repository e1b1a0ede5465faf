package keycloak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Issuer is the realm's token issuer as Keycloak announces it in its OIDC
// discovery document. Keycloak derives it from the URL it was reached at
// unless its hostname is pinned, so it is discovered rather than guessed,
// and kept fresh: a Keycloak still booting when the stack starts, or one
// whose hostname setting changes, is picked up without a restart.
type Issuer struct {
	client   *http.Client
	realm    Realm
	interval time.Duration
	log      *slog.Logger

	mu       sync.RWMutex
	current  string
	previous string // still accepted: tokens it issued may be unexpired
	lastErr  error
}

// NewIssuer returns an Issuer that knows nothing until Refresh or Run
// succeeds. interval is the period of Run's refreshes once discovered.
func NewIssuer(client *http.Client, realm Realm, interval time.Duration, log *slog.Logger) *Issuer {
	if client == nil {
		client = defaultClient()
	}
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Issuer{
		client: client, realm: realm, interval: interval,
		log:     log.With("discovery_url", realm.DiscoveryURL()),
		lastErr: errors.New("keycloak issuer: not discovered yet"),
	}
}

// Issuers returns the accepted issuers: the current one and the one before
// a change; none before the first discovery.
func (i *Issuer) Issuers() []string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	switch {
	case i.current == "":
		return nil
	case i.previous == "":
		return []string{i.current}
	default:
		return []string{i.current, i.previous}
	}
}

// Ready returns nil once an issuer is known, else why not.
func (i *Issuer) Ready() error {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.current != "" {
		return nil
	}
	return i.lastErr
}

// Name names the issuer's readiness check.
func (i *Issuer) Name() string { return "keycloak-issuer" }

// Check is the readiness check: nil once an issuer is known, else why not,
// naming the realm, the discovery URL and the setting that pins the issuer.
func (i *Issuer) Check(context.Context) error {
	if err := i.Ready(); err != nil {
		return fmt.Errorf("issuer of realm %q not discovered from %s (set keycloak.issuer to pin it): %w", i.realm.Name, i.realm.DiscoveryURL(), err)
	}
	return nil
}

// Refresh asks Keycloak now. On failure the known issuer is kept.
func (i *Issuer) Refresh(ctx context.Context) error {
	iss, err := DiscoverIssuer(ctx, i.client, i.realm)
	i.mu.Lock()
	defer i.mu.Unlock()
	if err != nil {
		i.lastErr = err
		i.log.WarnContext(ctx, "keycloak issuer discovery failed; keeping the known issuer", "error", err, "issuer", i.current)
		return err
	}
	i.lastErr = nil
	if iss != i.current {
		if i.current != "" {
			i.previous = i.current
		}
		i.current = iss
		i.log.InfoContext(ctx, "keycloak issuer discovered", "issuer", iss)
	}
	return nil
}

// Run refreshes until ctx is done: with backoff from one second until the
// first success, then every interval.
func (i *Issuer) Run(ctx context.Context) {
	runRefreshing(ctx, i.interval, func(ctx context.Context) { _ = i.Refresh(ctx) }, func() bool { return i.Ready() == nil })
}
