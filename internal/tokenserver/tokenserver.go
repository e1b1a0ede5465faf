// Package tokenserver is the registry token endpoint of oidc mode, per
// distribution's token specification: registry-stack authenticates the
// caller with Keycloak (package identity), grants each requested scope the
// intersection of what was asked and what the policy allows, and signs the
// token itself (package signing).
//
// It answers GET with Basic credentials (docker), a Keycloak access token as
// Bearer or as the password (CI jobs, the UI), no credentials (anonymous),
// and the OAuth2 POST form with grant_type=password or refresh_token
// (containerd, buildkit). Several scope parameters are honoured.
package tokenserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"

	"github.com/registry-stack/registry-stack/internal/apierror"
	"github.com/registry-stack/registry-stack/internal/challenge"
	"github.com/registry-stack/registry-stack/internal/identity"
	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/scope"
)

// Authenticator is what the endpoint needs of package identity.
type Authenticator interface {
	Password(ctx context.Context, user, password, clientAddr string) (*identity.Identity, error)
	Bearer(ctx context.Context, raw, clientAddr string) (*identity.Identity, error)
	Refresh(ctx context.Context, refreshToken, clientAddr string) (*identity.Identity, error)
}

// Signer signs the token's claims (package signing's Set).
type Signer interface {
	Sign(claims any) (string, error)
}

// Options configures the endpoint.
type Options struct {
	// Issuer is the "iss" of issued tokens, Service their "aud" and the
	// only "service" a request may name.
	Issuer  string
	Service string
	TTL     time.Duration
	Signer  Signer
	Auth    Authenticator
	Policy  *policy.Live
	// TrustForwardedHeaders takes the client address from X-Forwarded-For
	// (for throttling and the audit log); only behind a proxy that sets it.
	TrustForwardedHeaders bool
	// BasicRealm is the realm text of the Basic challenge.
	BasicRealm string
	Logger     *slog.Logger
	Now        func() time.Time
}

const (
	allowedMethods = "GET, POST, OPTIONS"
	// maxFormBytes bounds a POST body: credentials and a few scopes.
	maxFormBytes = 64 << 10
)

type handler struct {
	o   Options
	log *slog.Logger
}

// New returns the token endpoint handler.
func New(o Options) (http.Handler, error) {
	switch {
	case o.Issuer == "" || o.Service == "":
		return nil, errors.New("tokenserver: issuer and service must be set")
	case o.Signer == nil || o.Auth == nil || o.Policy == nil:
		return nil, errors.New("tokenserver: signer, authenticator and policy must be set")
	case o.TTL <= 0:
		return nil, errors.New("tokenserver: TTL must be positive")
	}
	if o.BasicRealm == "" {
		o.BasicRealm = "registry-stack"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &handler{o: o, log: o.Logger.With("component", "tokenserver")}, nil
}

// request is one token request, whichever form it came in.
type request struct {
	service    string
	scopes     []string
	clientAddr string
	ui         bool
	post       bool
	// offline asks for a refresh token (GET offline_token=true, POST
	// access_type=offline).
	offline bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPost:
	case http.MethodOptions:
		// A browser's preflight is internal/cors's, in front of this handler.
		w.Header().Set("Allow", allowedMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", allowedMethods)
		apierror.Write(w, apierror.Error{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED",
			Message: fmt.Sprintf("method %s is not allowed on the token endpoint; use GET or POST", r.Method)})
		return
	}
	req := request{clientAddr: h.clientAddr(r), ui: strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest")}
	var id *identity.Identity
	var err error
	if r.Method == http.MethodPost {
		id, err = h.postForm(w, r, &req)
	} else {
		id, err = h.get(r, &req)
	}
	if err != nil {
		h.fail(w, r, req, err)
		return
	}
	if req.service != "" && req.service != h.o.Service {
		h.fail(w, r, req, &apierror.Error{Status: http.StatusBadRequest, Code: "DENIED",
			Message: fmt.Sprintf("this registry's token service is %q, not %q", h.o.Service, req.service)})
		return
	}
	h.issue(w, r, req, id)
}

// get reads a docker-style GET: Basic credentials, a Bearer token, or none.
func (h *handler) get(r *http.Request, req *request) (*identity.Identity, error) {
	q := r.URL.Query()
	req.service = q.Get("service")
	req.scopes = q["scope"]
	// docker login sends offline_token=true and, given a refresh token,
	// keeps it instead of the password; Keycloak's expires with the SSO
	// session (30 minutes idle by default) and docker never renews it. So
	// docker keeps the password, as with any other registry.
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return anonymous(), nil
	}
	scheme, rest, _ := strings.Cut(authz, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		user, password, ok := parseBasic(rest)
		if ok && user == "" && password == "" {
			// Some clients send empty credentials for "none".
			return anonymous(), nil
		}
		if !ok {
			return nil, &apierror.Error{Status: http.StatusBadRequest, Code: "UNAUTHORIZED", Message: "malformed Basic credentials"}
		}
		return h.o.Auth.Password(r.Context(), user, password, req.clientAddr)
	case strings.EqualFold(scheme, "Bearer") && rest != "":
		return h.o.Auth.Bearer(r.Context(), rest, req.clientAddr)
	}
	return nil, &apierror.Error{Status: http.StatusBadRequest, Code: "UNAUTHORIZED", Message: "unsupported Authorization scheme: use Basic or Bearer"}
}

// postForm reads the OAuth2 form that containerd and buildkit send.
func (h *handler) postForm(w http.ResponseWriter, r *http.Request, req *request) (*identity.Identity, error) {
	req.post = true
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &apierror.Error{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "the token request body is not a valid form"}
	}
	f := r.PostForm
	req.service = f.Get("service")
	req.scopes = f["scope"]
	req.offline = f.Get("access_type") == "offline"
	switch f.Get("grant_type") {
	case "password":
		return h.o.Auth.Password(r.Context(), f.Get("username"), f.Get("password"), req.clientAddr)
	case "refresh_token":
		return h.o.Auth.Refresh(r.Context(), f.Get("refresh_token"), req.clientAddr)
	case "":
		return nil, &apierror.Error{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "grant_type is required: password or refresh_token"}
	}
	return nil, &apierror.Error{Status: http.StatusBadRequest, Code: "UNSUPPORTED", Message: "unsupported grant_type: use password or refresh_token"}
}

func anonymous() *identity.Identity {
	return &identity.Identity{Subject: policy.Subject{Anonymous: true}, Kind: "anonymous"}
}

// issue grants, signs and answers; one audit line per token.
func (h *handler) issue(w http.ResponseWriter, r *http.Request, req request, id *identity.Identity) {
	requested, bad := scope.ParseAll(req.scopes)
	p := h.o.Policy.Current()
	var granted []*token.ResourceActions
	var grantedText []string
	for _, sc := range requested {
		g, _ := p.Grant(id.Subject, sc)
		if len(g.Actions) == 0 {
			continue
		}
		granted = append(granted, &token.ResourceActions{Type: g.Type, Class: g.Class, Name: g.Name, Actions: g.Actions})
		grantedText = append(grantedText, g.String())
	}
	now := h.o.Now()
	claims := Claims{
		ClaimSet: token.ClaimSet{
			Issuer:     h.o.Issuer,
			Subject:    subjectName(id),
			Audience:   []string{h.o.Service},
			Expiration: now.Add(h.o.TTL).Unix(),
			NotBefore:  now.Add(-time.Second).Unix(),
			IssuedAt:   now.Unix(),
			JWTID:      newJTI(),
			Access:     granted,
		},
		Identity: identityClaim(id),
	}
	signed, err := h.o.Signer.Sign(claims)
	if err != nil {
		h.log.ErrorContext(r.Context(), "signing a token failed", "error", err)
		apierror.Write(w, apierror.Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "the token could not be signed"})
		return
	}
	requestedText := make([]string, 0, len(requested))
	for _, sc := range requested {
		requestedText = append(requestedText, sc.String())
	}
	attrs := []any{"subject", claims.Subject, "kind", id.Kind, "client_addr", req.clientAddr,
		"requested", requestedText, "granted", grantedText}
	if len(bad) > 0 {
		attrs = append(attrs, "malformed_scopes", len(bad))
	}
	h.log.InfoContext(r.Context(), "token issued", attrs...)

	ans := answer{
		Token:       signed,
		AccessToken: signed,
		ExpiresIn:   int(h.o.TTL / time.Second),
		IssuedAt:    now.UTC().Format(time.RFC3339),
	}
	if req.offline && id.RefreshToken != "" {
		ans.RefreshToken = id.RefreshToken
	}
	if req.post {
		ans.Scope = strings.Join(grantedText, " ")
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(ans)
}

// answer is the token response: "token" for docker, "access_token" for
// OAuth2 clients, both always.
type answer struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// Claims are the claims of an issued token: distribution's, plus who the
// token was issued to, so the catalog can be filtered by the same policy.
type Claims struct {
	token.ClaimSet
	Identity *IdentityClaim `json:"rs_identity,omitempty"`
}

// IdentityClaim is the subject as the policy saw it.
type IdentityClaim struct {
	Anonymous   bool                `json:"anonymous,omitempty"`
	User        string              `json:"user,omitempty"`
	Groups      []string            `json:"groups,omitempty"`
	RealmRoles  []string            `json:"realm_roles,omitempty"`
	ClientRoles map[string][]string `json:"client_roles,omitempty"`
}

// Subject returns the policy subject the claim describes.
func (c *IdentityClaim) Subject() policy.Subject {
	if c == nil {
		return policy.Subject{Anonymous: true}
	}
	return policy.Subject{Anonymous: c.Anonymous, User: c.User, Groups: c.Groups, RealmRoles: c.RealmRoles, ClientRoles: c.ClientRoles}
}

func identityClaim(id *identity.Identity) *IdentityClaim {
	s := id.Subject
	return &IdentityClaim{Anonymous: s.Anonymous, User: s.User, Groups: s.Groups, RealmRoles: s.RealmRoles, ClientRoles: s.ClientRoles}
}

func subjectName(id *identity.Identity) string {
	if id.Subject.Anonymous || id.Subject.User == "" {
		return "anonymous"
	}
	return id.Subject.User
}

func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// fail answers a failed request: a Basic challenge on 401 (unless the UI
// asked: it shows its own form), Retry-After when waiting helps.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, req request, err error) {
	e := apierror.Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "token request failed"}
	var ie *identity.Error
	var ae *apierror.Error
	switch {
	case errors.As(err, &ie):
		e = apierror.Error{Status: ie.Status, Code: ie.Code, Message: ie.Message}
		if ie.RetryAfter > 0 {
			e.RetryAfter = strconv.Itoa(int((ie.RetryAfter + time.Second - 1) / time.Second))
		}
	case errors.As(err, &ae):
		e = *ae
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	// err may name the user, never a password or token: identity keeps
	// secrets out of its errors.
	h.log.Log(r.Context(), level, "token request refused", "status", e.Status, "client_addr", req.clientAddr, "error", err)
	if e.Status == http.StatusUnauthorized && !req.ui {
		w.Header().Set("WWW-Authenticate", challenge.Basic(h.o.BasicRealm))
	}
	apierror.Write(w, e)
}

// clientAddr is the caller's address, for throttling and the audit log.
// Behind a trusted proxy it is the last X-Forwarded-For entry, the one the
// proxy added: earlier entries are whatever the client sent.
func (h *handler) clientAddr(r *http.Request) string {
	if h.o.TrustForwardedHeaders {
		if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
			all := strings.Split(v[len(v)-1], ",")
			if addr, err := netip.ParseAddr(strings.TrimSpace(all[len(all)-1])); err == nil {
				return addr.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func parseBasic(v string) (user, password string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	return user, password, ok && (user != "" || password == "")
}
