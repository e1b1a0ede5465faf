// Package catalog serves GET /v2/_catalog in oidc mode: only the
// repositories the caller may pull, still paged with n and last as
// distribution pages it. Every other request, and a catalog request without
// a valid token for the catalog, goes to the registry unchanged, which then
// answers with its own challenge.
package catalog

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"

	"github.com/registry-stack/registry-stack/internal/policy"
	"github.com/registry-stack/registry-stack/internal/scope"
	"github.com/registry-stack/registry-stack/internal/shorten"
	"github.com/registry-stack/registry-stack/internal/tokenauth"
	"github.com/registry-stack/registry-stack/internal/tokenserver"
)

// Lister lists repository names in lexical order after a given one.
type Lister interface {
	Repositories(ctx context.Context, after string, descend func(prefix string) bool, fn func(name string) bool) error
}

// Options configures the filter.
type Options struct {
	Lister   Lister
	Verifier *tokenauth.Verifier
	// Service is the audience the token must carry.
	Service string
	Policy  *policy.Live
	// MaxEntries caps n, as distribution's catalog.maxentries does.
	MaxEntries int
	Logger     *slog.Logger
}

// defaultPage is the page size when the client names none.
const defaultPage = 100

type filter struct {
	o    Options
	next http.Handler
}

// New wraps next (the registry) so that the catalog is filtered.
func New(o Options, next http.Handler) http.Handler {
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &filter{o: o, next: next}
}

func (f *filter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/_catalog" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		f.next.ServeHTTP(w, r)
		return
	}
	subject, ok := f.subject(r)
	if !ok {
		f.next.ServeHTTP(w, r) // the registry challenges or refuses
		return
	}
	q := r.URL.Query()
	// As distribution does: a default page larger than the maximum is cut
	// to it, an n larger than it is refused.
	n := min(defaultPage, f.o.MaxEntries)
	if v := q.Get("n"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			_ = errcode.ServeJSON(w, errcode.ErrorCodePaginationNumberInvalid.WithDetail(map[string]string{"n": shorten.Text(v, 40)}))
			return
		}
		if i > f.o.MaxEntries {
			_ = errcode.ServeJSON(w, errcode.ErrorCodePaginationNumberInvalid.WithDetail(map[string]int{"n": i}))
			return
		}
		n = i
	}
	last := q.Get("last")
	// last is where the previous page ended, a repository name; anything
	// else would start the storage walk at a place no name leads to.
	if last != "" && scope.ValidateRepository(last) != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail(map[string]string{"last": shorten.Text(last, 120)}))
		return
	}
	p := f.o.Policy.Current()
	repos := make([]string, 0, min(n, 1024))
	more := false
	if n > 0 {
		// Namespaces the caller can pull nothing from are not walked.
		descend := func(prefix string) bool { return p.MayPullUnder(subject, prefix) }
		err := f.o.Lister.Repositories(r.Context(), last, descend, func(name string) bool {
			if !p.MayPull(subject, name) {
				return true
			}
			if len(repos) == n {
				more = true
				return false
			}
			repos = append(repos, name)
			return true
		})
		if err != nil {
			f.o.Logger.ErrorContext(r.Context(), "catalog listing failed", "error", err)
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Docker-Distribution-API-Version", "registry/2.0")
	if more {
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {repos[len(repos)-1]}}
		h.Set("Link", `</v2/_catalog?`+next.Encode()+`>; rel="next"`)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(map[string][]string{"repositories": repos})
}

// subject returns who the request's token was issued to, when it is a valid
// token of this registry that grants the catalog.
func (f *filter) subject(r *http.Request) (policy.Subject, bool) {
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return policy.Subject{}, false
	}
	var c tokenserver.Claims
	if err := f.o.Verifier.Verify(r.Context(), raw, &c); err != nil {
		return policy.Subject{}, false
	}
	if !slices.Contains(c.Audience, f.o.Service) {
		return policy.Subject{}, false
	}
	for _, ra := range c.Access {
		if ra != nil && ra.Type == "registry" && ra.Name == "catalog" && slices.Contains(ra.Actions, "*") {
			return c.Identity.Subject(), true
		}
	}
	return policy.Subject{}, false
}
