package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// TestKeycloakOutage stops a real Keycloak under a running stack: the token
// endpoint answers 503 with Retry-After within its timeout, tokens already
// issued keep working, and when Keycloak is back tokens flow again, with no
// restart of the stack.
func TestKeycloakOutage(t *testing.T) {
	t.Parallel() // starts its own Keycloak; overlaps with the no-docker test
	kc := keycloaktest.StartOwn(t)
	realm := keycloaktest.NewRealm(t, kc.Server, "outage")
	const timeout = 3 * time.Second
	st := stackrun.Start(t, []string{"REGISTRY_STACK_KEYCLOAK_TIMEOUT=" + timeout.String()}, realm.StackArgs()...)
	tokenURL := st.URL + realm.TokenPath()
	scope := "repository:outage/app:pull"
	status := func(tok string) int {
		t.Helper()
		return tagsStatus(t, st, "outage/app", tok)
	}
	before := realm.StackToken(t, st.URL, scope)
	if got := status(before); got == http.StatusUnauthorized {
		t.Fatalf("token refused before the outage")
	}

	kc.Pause(t)
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, tokenURL+"?service="+realm.Service+"&scope="+scope, nil)
	req.SetBasicAuth(realm.User, realm.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("token endpoint with Keycloak down = %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if took > timeout+2*time.Second {
		t.Errorf("token endpoint answered after %s, beyond its %s timeout", took, timeout)
	}
	if got := status(before); got == http.StatusUnauthorized {
		t.Errorf("a still-valid token was refused while Keycloak was down")
	}
	ready, err := http.Get(st.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d while Keycloak is down; the loaded key set should keep the stack ready", ready.StatusCode)
	}

	kc.Resume(t)
	after := realm.StackToken(t, st.URL, scope)
	if got := status(after); got == http.StatusUnauthorized {
		t.Fatalf("token issued after Keycloak came back was refused")
	}
}
