package keycloak

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/registry-stack/registry-stack/internal/shorten"

	"github.com/go-jose/go-jose/v4"
)

// Defaults for KeySetOptions.
const (
	DefaultRefreshInterval = 5 * time.Minute
	DefaultMinRefreshGap   = 10 * time.Second
)

// minRSABits rejects toy keys; Keycloak generates 2048-bit keys or larger.
const minRSABits = 2048

// firstRetryDelay is Run's first backoff step while no key set is loaded.
const firstRetryDelay = time.Second

// KeySetOptions configures a KeySet.
type KeySetOptions struct {
	// Client fetches the JWKS; it should carry a timeout. Nil means a
	// client with a 10s timeout.
	Client *http.Client
	Realm  Realm
	// RefreshInterval is the period of Run's refreshes.
	RefreshInterval time.Duration
	// MinRefreshGap is the least time between two fetches caused by
	// unknown key IDs, so tokens with made-up kids cannot flood Keycloak.
	MinRefreshGap time.Duration
	Logger        *slog.Logger
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// KeySet is the live set of a realm's token signing keys. It is safe for
// concurrent use.
type KeySet struct {
	client    *http.Client
	realmName string
	certsURL  string
	interval  time.Duration
	minGap    time.Duration
	log       *slog.Logger
	now       func() time.Time

	// fetching is a one-slot semaphore: at most one JWKS request is in
	// flight, and waiters can give up when their context ends.
	fetching chan struct{}
	// lastUnknown is when an unknown kid last caused a fetch; only touched
	// while holding fetching. Periodic refreshes do not count, so a key
	// rotated in right after one is still picked up at once.
	lastUnknown time.Time

	mu      sync.RWMutex
	keys    map[string]crypto.PublicKey
	loaded  bool
	lastErr error
}

// NewKeySet returns an empty KeySet; call Refresh or Run to load it.
func NewKeySet(opts KeySetOptions) *KeySet {
	ks := &KeySet{
		client:    opts.Client,
		realmName: opts.Realm.Name,
		certsURL:  opts.Realm.CertsURL(),
		interval:  opts.RefreshInterval,
		minGap:    opts.MinRefreshGap,
		log:       opts.Logger,
		now:       opts.Now,
		fetching:  make(chan struct{}, 1),
		lastErr:   errors.New("keycloak key set: not loaded yet"),
	}
	if ks.client == nil {
		ks.client = defaultClient()
	}
	if ks.interval <= 0 {
		ks.interval = DefaultRefreshInterval
	}
	if ks.minGap <= 0 {
		ks.minGap = DefaultMinRefreshGap
	}
	if ks.log == nil {
		ks.log = slog.New(slog.DiscardHandler)
	}
	if ks.now == nil {
		ks.now = time.Now
	}
	ks.log = ks.log.With("jwks_url", ks.certsURL)
	return ks
}

// Ready reports whether a key set has been loaded.
func (ks *KeySet) Ready() bool {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.loaded
}

// LastError is the error of the latest refresh, nil if it succeeded; before
// the first refresh it reports that nothing is loaded yet.
func (ks *KeySet) LastError() error {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.lastErr
}

// Name names the key set's readiness check.
func (ks *KeySet) Name() string { return "keycloak-keys" }

// Check is the readiness check: nil once a key set is loaded, else why not,
// naming the realm and the URL the keys come from.
func (ks *KeySet) Check(context.Context) error {
	if ks.Ready() {
		return nil
	}
	if err := ks.LastError(); err != nil {
		return fmt.Errorf("signing keys of realm %q not loaded from %s: %w", ks.realmName, ks.certsURL, err)
	}
	return errors.New("signing keys not loaded yet")
}

// Key returns the public key for kid, which may be a JWKS kid or a libtrust
// kid. An unknown kid triggers one synchronous refresh, at most every
// MinRefreshGap across all callers, so a key Keycloak just rotated in is
// accepted without waiting for the next periodic refresh.
func (ks *KeySet) Key(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	if kid == "" {
		return nil, false
	}
	if k, ok := ks.lookup(kid); ok {
		return k, true
	}
	if !ks.acquire(ctx) {
		return nil, false
	}
	defer ks.release()
	// Whoever held the semaphore before may have loaded the key already.
	if k, ok := ks.lookup(kid); ok {
		return k, true
	}
	if !ks.lastUnknown.IsZero() && ks.now().Sub(ks.lastUnknown) < ks.minGap {
		return nil, false
	}
	ks.lastUnknown = ks.now()
	ks.log.InfoContext(ctx, "unknown token signing key id, refreshing key set", "kid", shorten.Text(kid, 64))
	// The fetch outlives a cancelled request so that one impatient client
	// neither records a bogus error nor burns the rate limit for others;
	// the HTTP client timeout still bounds it.
	_ = ks.refreshLocked(context.WithoutCancel(ctx))
	return ks.lookup(kid)
}

// Refresh fetches the JWKS now. On failure the last good key set is kept.
func (ks *KeySet) Refresh(ctx context.Context) error {
	if !ks.acquire(ctx) {
		return fmt.Errorf("keycloak jwks %s: %w", ks.certsURL, ctx.Err())
	}
	defer ks.release()
	return ks.refreshLocked(ctx)
}

// Run refreshes the key set every RefreshInterval until ctx is done. Until
// the first load succeeds it retries sooner, with exponential backoff, so a
// registry started alongside a booting Keycloak becomes ready quickly.
func (ks *KeySet) Run(ctx context.Context) {
	runRefreshing(ctx, ks.interval, func(ctx context.Context) { _ = ks.Refresh(ctx) }, ks.Ready)
}

// runRefreshing calls refresh now and then every interval until ctx is done;
// while ready reports false it retries with backoff from one second instead.
func runRefreshing(ctx context.Context, interval time.Duration, refresh func(context.Context), ready func() bool) {
	retry := min(firstRetryDelay, interval)
	for {
		refresh(ctx)
		wait := interval
		if !ready() {
			wait = retry
			retry = min(retry*2, interval)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (ks *KeySet) acquire(ctx context.Context) bool {
	select {
	case ks.fetching <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (ks *KeySet) release() { <-ks.fetching }

func (ks *KeySet) lookup(kid string) (crypto.PublicKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[kid]
	return k, ok
}

// refreshLocked must be called while holding the fetching semaphore.
func (ks *KeySet) refreshLocked(ctx context.Context) error {
	keys, err := ks.fetch(ctx)

	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err != nil {
		ks.lastErr = err
		ks.log.WarnContext(ctx, "refreshing token signing keys failed; keeping the previous set",
			"error", err, "have_keys", ks.loaded)
		return err
	}
	if !maps.EqualFunc(ks.keys, keys, func(a, b crypto.PublicKey) bool {
		type equaler interface{ Equal(crypto.PublicKey) bool }
		e, ok := a.(equaler)
		return ok && e.Equal(b)
	}) {
		ks.log.InfoContext(ctx, "token signing keys loaded", "kids", slices.Sorted(maps.Keys(keys)))
	}
	ks.keys = keys
	ks.loaded = true
	ks.lastErr = nil
	return nil
}

// fetch downloads the JWKS and indexes its usable signature keys.
func (ks *KeySet) fetch(ctx context.Context) (map[string]crypto.PublicKey, error) {
	var doc jwks
	if err := getJSON(ctx, ks.client, ks.certsURL, &doc); err != nil {
		return nil, err
	}
	keys := indexKeys(ctx, ks.log, doc)
	if len(keys) == 0 {
		return nil, fmt.Errorf("keycloak jwks %s: no usable RSA or EC signature keys among %d keys", ks.certsURL, len(doc.Keys))
	}
	return keys, nil
}

// jwks is a JWKS document (RFC 7517).
type jwks struct {
	// Keys are decoded one by one: go-jose rejects a whole set when one
	// key has a type it does not know.
	Keys []json.RawMessage `json:"keys"`
}

// indexKeys indexes the usable signature keys of doc under both their JWKS
// kid and their libtrust kid (the one Keycloak's docker tokens carry); it
// skips, and logs at debug level, every other key.
func indexKeys(ctx context.Context, log *slog.Logger, doc jwks) map[string]crypto.PublicKey {
	keys := make(map[string]crypto.PublicKey, 2*len(doc.Keys))
	for i, raw := range doc.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			log.DebugContext(ctx, "skipping unparsable JWKS key", "index", i, "error", err)
			continue
		}
		pub, reason := usableSigningKey(jwk)
		if pub == nil {
			log.DebugContext(ctx, "skipping JWKS key", "kid", jwk.KeyID, "reason", reason)
			continue
		}
		lt, err := LibtrustKeyID(pub)
		if err != nil {
			log.DebugContext(ctx, "skipping JWKS key", "kid", jwk.KeyID, "error", err)
			continue
		}
		keys[lt] = pub
		if jwk.KeyID != "" {
			keys[jwk.KeyID] = pub
		}
	}
	return keys
}

// usableSigningKey returns the public key of jwk if it may verify token
// signatures, else nil and why not.
func usableSigningKey(jwk jose.JSONWebKey) (crypto.PublicKey, string) {
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, "use is " + jwk.Use
	}
	switch k := jwk.Key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Sprintf("RSA key of %d bits", k.N.BitLen())
		}
		return k, ""
	case *ecdsa.PublicKey:
		return k, ""
	default:
		return nil, fmt.Sprintf("unsupported key type %T", jwk.Key)
	}
}
