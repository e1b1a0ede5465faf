package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// TestKeycloakWithoutDockerFeature runs against a real Keycloak started
// without --features=docker, the most common setup mistake: bootstrap and
// the token endpoint both say how to fix it.
func TestKeycloakWithoutDockerFeature(t *testing.T) {
	t.Parallel() // starts its own Keycloak; overlaps with the outage test
	kc := keycloaktest.StartOwn(t, "--features", "")

	code, stdout, stderr := stackrun.RunCLI(t, nil, "bootstrap",
		"--keycloak-url", kc.URL, "--admin-user", kc.AdminUser, "--admin-password", kc.AdminPassword,
		"--realm", "nodocker", "--service", "registry", "--user", "bob", "--password", "bob-Pa55-word")
	if code == 0 || !strings.Contains(stderr, "--features=docker") {
		t.Errorf("bootstrap against Keycloak without the docker feature: exit %d\nstdout: %s\nstderr: %s\nwant a failure that says --features=docker", code, stdout, stderr)
	}
	if strings.Contains(stderr, kc.AdminPassword) && kc.AdminPassword != kc.AdminUser {
		t.Errorf("bootstrap printed the admin password: %s", stderr)
	}

	// A realm with a user exists, but Keycloak has no docker-v2 endpoint.
	realm := keycloaktest.NewRealmWithoutClient(t, kc.Server, "nodocker")
	st := stackrun.Start(t, nil, realm.StackArgs()...)
	req, _ := http.NewRequest(http.MethodGet, st.URL+realm.TokenPath()+"?service="+realm.Service+"&scope=repository:a/b:pull", nil)
	req.SetBasicAuth(realm.User, realm.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode < 500 || !strings.Contains(string(body), "--features=docker") {
		t.Errorf("token endpoint = %d %s; want a 5xx that says --features=docker", resp.StatusCode, body)
	}
}
