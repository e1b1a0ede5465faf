package keycloak

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
)

// fakeDiscoveryServer serves a discovery document whose issuer, or failure,
// the test changes: an outage and a hostname change on demand.
type fakeDiscoveryServer struct {
	mu     sync.Mutex
	issuer string // "" answers 503
	srv    *httptest.Server
}

func newFakeDiscoveryServer(t *testing.T) *fakeDiscoveryServer {
	t.Helper()
	f := &fakeDiscoveryServer{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		iss := f.issuer
		f.mu.Unlock()
		if r.URL.Path != "/realms/test/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		if iss == "" {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"issuer":%q}`, iss)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDiscoveryServer) set(iss string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issuer = iss
}

func TestIssuerDiscovery(t *testing.T) {
	f := newFakeDiscoveryServer(t)
	base, _ := url.Parse(f.srv.URL)
	iss := NewIssuer(f.srv.Client(), Realm{BaseURL: base, Name: "test"}, 0, nil)
	ctx := context.Background()

	if iss.Ready() == nil || iss.Issuers() != nil {
		t.Fatalf("before discovery: Ready() = %v, Issuers() = %v; want an error and none", iss.Ready(), iss.Issuers())
	}
	if err := iss.Refresh(ctx); err == nil || iss.Ready() == nil {
		t.Fatalf("Keycloak still starting: Refresh() = %v, Ready() = %v; want errors", err, iss.Ready())
	}

	f.set("https://sso.example.test/realms/test")
	if err := iss.Refresh(ctx); err != nil || iss.Ready() != nil {
		t.Fatalf("Keycloak up: Refresh() = %v, Ready() = %v", err, iss.Ready())
	}
	if got := iss.Issuers(); !slices.Equal(got, []string{"https://sso.example.test/realms/test"}) {
		t.Fatalf("Issuers() = %v", got)
	}

	f.set("")
	if err := iss.Refresh(ctx); err == nil || iss.Ready() != nil || len(iss.Issuers()) != 1 {
		t.Fatalf("outage after discovery: Refresh() = %v, Ready() = %v, Issuers() = %v; want the known issuer kept", err, iss.Ready(), iss.Issuers())
	}

	f.set("https://registry-sso.example.test/realms/test")
	if err := iss.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"https://registry-sso.example.test/realms/test", "https://sso.example.test/realms/test"}
	if got := iss.Issuers(); !slices.Equal(got, want) {
		t.Fatalf("after a hostname change Issuers() = %v, want %v (new, and old for unexpired tokens)", got, want)
	}
}
