// Package identity finds out who is asking for a registry token, with
// Keycloak as the identity provider over OpenID Connect: a user name and
// password (the direct-access grant of registry-stack's OIDC client), a
// robot's client id and secret (the client-credentials grant), or a
// Keycloak access token (verified locally). The answer is a policy.Subject:
// user name, groups, realm and client roles.
//
// Verified identities are cached for a short time under a keyed hash of the
// credentials, and failed attempts are throttled per user and per client
// address before Keycloak is asked.
package identity

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/registry-stack/registry-stack/internal/keycloak"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
)

// Defaults for Options.
const (
	DefaultCacheTTL       = 60 * time.Second
	DefaultUserFailures   = 5
	DefaultClientFailures = 20
	DefaultFailureWindow  = time.Minute
	defaultTimeout        = 10 * time.Second
)

// Kinds of identity.
const (
	KindUser  = "user"
	KindRobot = "robot"
	KindToken = "token" // a Keycloak access token presented by the client
)

// Options configures an Authenticator.
type Options struct {
	Realm keycloak.Realm
	// ClientID and ClientSecret are registry-stack's OIDC client in the
	// realm (direct-access grants on; the secret is empty for a public
	// client). Keycloak access tokens presented by clients must be for this
	// client (azp or aud) or for one of Audiences.
	ClientID     string
	ClientSecret string
	Audiences    []string
	// Verifier checks Keycloak's signatures, issuer and validity period.
	Verifier *tokenauth.Verifier
	// Client calls Keycloak; it must have a timeout. Default: Timeout.
	Client  *http.Client
	Timeout time.Duration
	// CacheTTL bounds how long a verified identity is reused without asking
	// Keycloak again (never past the Keycloak token's expiry); default 60s,
	// negative disables the cache.
	CacheTTL time.Duration
	// UserFailures and ClientFailures are the failed attempts allowed per
	// user name and per client address within FailureWindow.
	UserFailures   int
	ClientFailures int
	FailureWindow  time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

// Identity is who a request is, as far as the policy is concerned.
type Identity struct {
	Subject policy.Subject
	Kind    string
	// Expires is when the Keycloak token behind it expires.
	Expires time.Time
	// RefreshToken is Keycloak's, when the grant returned one; a client
	// may trade it for a new identity with Refresh.
	RefreshToken string
}

// Authenticator turns credentials into identities. It is safe for
// concurrent use.
type Authenticator struct {
	o        Options
	client   *http.Client
	tokenURL string
	cache    *cache
	users    *throttle
	clients  *throttle
	log      *slog.Logger
	now      func() time.Time
}

// New returns an Authenticator.
func New(o Options) (*Authenticator, error) {
	if o.ClientID == "" {
		return nil, errors.New("identity: client id must be set")
	}
	if o.Verifier == nil {
		return nil, errors.New("identity: verifier must be set")
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.UserFailures <= 0 {
		o.UserFailures = DefaultUserFailures
	}
	if o.ClientFailures <= 0 {
		o.ClientFailures = DefaultClientFailures
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = DefaultFailureWindow
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	client := o.Client
	if client == nil {
		client = keycloak.NewClient(keycloak.NewTransport(o.Timeout), o.Timeout)
	}
	cl := *client
	// A redirect from a token endpoint means a wrong URL; never follow it.
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Authenticator{
		o:        o,
		client:   &cl,
		tokenURL: o.Realm.OIDCTokenURL(),
		cache:    newCache(),
		users:    newThrottle(o.UserFailures, o.FailureWindow),
		clients:  newThrottle(o.ClientFailures, o.FailureWindow),
		log:      o.Logger.With("component", "identity"),
		now:      o.Now,
	}, nil
}

// Password authenticates a Basic or OAuth2-password login. The password may
// be a Keycloak access token (from a CI job or the UI's single sign-on);
// otherwise user and password are tried as a robot's client id and secret,
// then as a user's name and password. clientAddr is the caller's address,
// for throttling.
func (a *Authenticator) Password(ctx context.Context, user, password, clientAddr string) (*Identity, error) {
	if user == "" || password == "" {
		return nil, invalidCredentials("a user name and a password are required", nil)
	}
	if len(user) > maxUserName {
		return nil, invalidCredentials("invalid user name or password", nil)
	}
	if looksLikeJWT(password) {
		return a.Bearer(ctx, password, clientAddr)
	}
	return a.cached(ctx, clientAddr, []string{"password", user, password}, func(ctx context.Context) (*Identity, error) {
		// A robot's secret is long and random: throttling it protects
		// nothing and would let anyone lock a CI job out.
		id, err := a.clientCredentials(ctx, user, password)
		if err == nil || !errors.Is(err, errNotARobot) {
			return id, err
		}
		// Keycloak's user names are case-insensitive: so is the limit.
		userKey := a.throttleKey("user", strings.ToLower(user))
		if w := a.users.begin(userKey, a.now()); w > 0 {
			return nil, throttled(w)
		}
		id, err = a.passwordGrant(ctx, user, password)
		if errors.Is(err, ErrInvalidCredentials) {
			a.users.fail(userKey)
		} else {
			a.users.done(userKey)
		}
		return id, err
	})
}

// maxUserName is Keycloak's limit; a longer name is refused before any
// request.
const maxUserName = 255

// Bearer authenticates a Keycloak access token presented by the client.
func (a *Authenticator) Bearer(ctx context.Context, raw, clientAddr string) (*Identity, error) {
	return a.cached(ctx, clientAddr, []string{"bearer", raw}, func(ctx context.Context) (*Identity, error) {
		id, err := a.fromAccessToken(ctx, raw, true)
		if err != nil {
			return nil, err
		}
		id.Kind = KindToken
		return id, nil
	})
}

// Refresh trades a refresh token that an earlier login returned for a
// fresh identity; Keycloak decides whether the session is still valid, so a
// disabled user or an ended session fails here. It is never answered from
// the cache: Keycloak's reuse and revocation checks must see every use.
func (a *Authenticator) Refresh(ctx context.Context, refreshToken, clientAddr string) (*Identity, error) {
	if refreshToken == "" {
		return nil, invalidCredentials("a refresh token is required", nil)
	}
	return a.throttled(ctx, clientAddr, func(ctx context.Context) (*Identity, error) {
		return a.refreshGrant(ctx, refreshToken)
	})
}

// cached answers from the cache, or runs login (throttled per client
// address) and caches its answer; any failure drops the cached entry.
func (a *Authenticator) cached(ctx context.Context, clientAddr string, secret []string, login func(context.Context) (*Identity, error)) (*Identity, error) {
	key := a.cache.keyOf(secret...)
	if a.o.CacheTTL > 0 {
		if id, ok := a.cache.get(key, a.now()); ok {
			return id, nil
		}
	}
	id, err := a.throttled(ctx, clientAddr, login)
	if err != nil {
		a.cache.drop(key)
		return nil, err
	}
	if a.o.CacheTTL > 0 {
		now := a.now()
		a.cache.put(key, id, minTime(now.Add(a.o.CacheTTL), id.Expires), now)
	}
	return id, nil
}

// throttled runs login unless the client address has used up its failed
// attempts; a wrong credential counts against it.
func (a *Authenticator) throttled(ctx context.Context, clientAddr string, login func(context.Context) (*Identity, error)) (*Identity, error) {
	addrKey := a.throttleKey("addr", clientAddr)
	if w := a.clients.begin(addrKey, a.now()); w > 0 {
		return nil, throttled(w)
	}
	id, err := login(ctx)
	if errors.Is(err, ErrInvalidCredentials) {
		a.clients.fail(addrKey)
	} else {
		a.clients.done(addrKey)
	}
	return id, err
}

// throttleKey is a fixed-size, irreversible key: what people type into the
// user field is sometimes a password, and must not sit in memory as typed.
func (a *Authenticator) throttleKey(kind, v string) string {
	k := a.cache.keyOf("throttle", kind, v)
	return string(k[:])
}

// keycloakClaims are the claims of a Keycloak access token that matter here.
type keycloakClaims struct {
	Type              string       `json:"typ"`
	AuthorizedParty   string       `json:"azp"`
	Audience          jwt.Audience `json:"aud"`
	Expiration        int64        `json:"exp"`
	PreferredUsername string       `json:"preferred_username"`
	Groups            []string     `json:"groups"`
	RealmAccess       struct {
		Roles []string `json:"roles"`
	} `json:"realm_access"`
	ResourceAccess map[string]struct {
		Roles []string `json:"roles"`
	} `json:"resource_access"`
}

// fromAccessToken verifies a Keycloak access token and reads the subject
// from it. checkAudience is false for tokens the stack itself just received
// from Keycloak for a robot's own client.
func (a *Authenticator) fromAccessToken(ctx context.Context, raw string, checkAudience bool) (*Identity, error) {
	// A token the stack fetched itself with good credentials that does not
	// verify is the stack's problem (an unknown issuer, a key algorithm
	// refused), not a wrong password: never 401, never a throttle count.
	refused := invalidCredentials
	if !checkAudience {
		refused = func(msg string, cause error) *Error {
			return misconfigured("Keycloak issued a token registry-stack cannot verify: check keycloak.url, keycloak.issuer and the realm's signing keys", cause)
		}
	}
	var c keycloakClaims
	if err := a.o.Verifier.Verify(ctx, raw, &c); err != nil {
		return nil, refused("the access token is not valid for this registry", err)
	}
	// An ID or refresh token must never pass for an access token.
	if !strings.EqualFold(c.Type, "Bearer") {
		return nil, refused("the token is not a Keycloak access token", errors.New("typ "+c.Type))
	}
	if checkAudience && !a.forUs(c) {
		return nil, invalidCredentials("the access token was issued for another client", errors.New("azp "+c.AuthorizedParty))
	}
	if c.PreferredUsername == "" {
		return nil, refused("the access token names no user", nil)
	}
	s := policy.Subject{
		User:       c.PreferredUsername,
		Groups:     slices.Clone(c.Groups),
		RealmRoles: slices.Clone(c.RealmAccess.Roles),
	}
	if len(c.ResourceAccess) > 0 {
		s.ClientRoles = make(map[string][]string, len(c.ResourceAccess))
		for client, ra := range c.ResourceAccess {
			s.ClientRoles[client] = slices.Clone(ra.Roles)
		}
	}
	return &Identity{Subject: s, Kind: KindUser, Expires: time.Unix(c.Expiration, 0)}, nil
}

func (a *Authenticator) forUs(c keycloakClaims) bool {
	accepted := append([]string{a.o.ClientID}, a.o.Audiences...)
	if slices.Contains(accepted, c.AuthorizedParty) {
		return true
	}
	return slices.ContainsFunc(accepted, func(x string) bool { return slices.Contains(c.Audience, x) })
}

// looksLikeJWT reports a compact JWS: three base64url parts, a JSON header.
func looksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 && len(s) > 32
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
