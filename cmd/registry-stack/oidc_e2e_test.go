package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Nerzal/gocloak/v13"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/registry-stack/registry-stack/internal/bootstrap"
	"github.com/registry-stack/registry-stack/internal/dockertoken"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// oidcPolicyExtra adds, to the demo policy, a namespace decided by a client
// role, so the permission matrix covers users by group, by realm role and
// by client role.
const oidcPolicyExtra = `    "team-c/**":
      - who: ["client-role:registry-stack/maintainer"]
        actions: [pull, push]
`

// oidcSetup is a realm with the demo layout (bootstrap's Demo) plus dave,
// who holds the client role maintainer, and the robot's secret.
type oidcSetup struct {
	kc          keycloaktest.Server
	admin       *bootstrap.Admin
	realm       string
	robotSecret string
	configFile  string
}

func newOIDCSetup(t testing.TB, prefix string) *oidcSetup {
	t.Helper()
	kc := keycloaktest.Require(t)
	s := &oidcSetup{kc: kc, admin: kc.Admin(t), realm: kc.TempRealm(t, prefix)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := s.admin.Demo(ctx, s.realm)
	if err != nil {
		t.Fatalf("bootstrap demo layout: %v", err)
	}
	s.robotSecret = res.RobotSecret
	if _, err := s.admin.EnsureUser(ctx, s.realm, "dave", "dave-password"); err != nil {
		t.Fatal(err)
	}
	dave, err := s.admin.UserID(ctx, s.realm, "dave")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.admin.EnsureClientRole(ctx, s.realm, dave, bootstrap.DemoClientID, "maintainer"); err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile("../../configs/policy-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.configFile = filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(s.configFile, append(demo, oidcPolicyExtra...), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs a stack in oidc mode for the setup's realm: the command line
// the README gives, the flags overriding the file.
func (s *oidcSetup) start(t testing.TB, env []string, extra ...string) *stackrun.Stack {
	t.Helper()
	args := append([]string{"--config", s.configFile, "--keycloak-url", s.kc.URL, "--keycloak-realm", s.realm, "--public-url="}, extra...)
	st := stackrun.Start(t, env, args...)
	t.Cleanup(func() {
		logs := st.Logs()
		for _, secret := range []string{"alice-password", "bob-password", "carol-password", "dave-password", s.robotSecret} {
			if strings.Contains(logs, secret) {
				t.Errorf("stack logs contain a password or secret")
			}
		}
		if strings.Contains(logs, "eyJ") {
			t.Errorf("stack logs contain something that looks like a JWT")
		}
	})
	return st
}

func login(user, password string) remote.Option {
	if user == "" {
		return remote.WithAuth(authn.Anonymous)
	}
	return remote.WithAuth(&authn.Basic{Username: user, Password: password})
}

// statusOf returns the HTTP status of a registry error, 0 for success.
func statusOf(err error) int {
	if err == nil {
		return 0
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return -1
}

func TestOIDCPermissionMatrix(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-matrix")
	st := s.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	carol := login("carol", "carol-password")
	repos := []string{"team-a/app", "team-b/app", "public/base", "team-c/app", "other/app"}
	// The admin seeds every repository, so that pull and delete have
	// something to act on.
	reg := seedAsAdmin(t, ctx, st, repos...)

	type who struct{ name, user, password string }
	users := []who{
		{"alice (group /team-a)", "alice", "alice-password"},
		{"bob (group /team-b)", "bob", "bob-password"},
		{"carol (realm role registry-admin)", "carol", "carol-password"},
		{"dave (client role registry-stack/maintainer)", "dave", "dave-password"},
		{"ci-robot (service account in /team-a)", bootstrap.DemoRobot, s.robotSecret},
		{"anonymous", "", ""},
	}
	// allowed[user][repo] lists the actions the policy grants.
	allowed := map[string]map[string]string{
		"alice":    {"team-a/app": "pull,push,delete", "public/base": "pull,push"},
		"bob":      {"team-b/app": "pull,push,delete", "public/base": "pull"},
		"carol":    {"team-a/app": "pull,push,delete", "team-b/app": "pull,push,delete", "public/base": "pull,push,delete", "team-c/app": "pull,push,delete", "other/app": "pull,push,delete"},
		"dave":     {"public/base": "pull", "team-c/app": "pull,push"},
		"ci-robot": {"team-a/app": "pull,push,delete", "public/base": "pull,push"},
		"":         {"public/base": "pull"},
	}
	for _, u := range users {
		for _, r := range repos {
			want := allowed[u.user][r]
			auth := login(u.user, u.password)
			ref := reg.Repo(r)
			t.Run(u.name+"/"+r, func(t *testing.T) {
				// pull
				_, err := remote.Image(ref.Tag("v1"), auth, remote.WithContext(ctx))
				checkAllowed(t, "pull", strings.Contains(want, "pull"), err)
				// push: a new tag, which the admin must then see, or not
				tag := "by-" + strings.NewReplacer("@", "-", " ", "-").Replace(firstNonEmpty(u.user, "anonymous"))
				img, _ := random.Image(256, 1)
				err = remote.Write(ref.Tag(tag), img, auth, remote.WithContext(ctx))
				checkAllowed(t, "push", strings.Contains(want, "push"), err)
				_, headErr := remote.Head(ref.Tag(tag), carol, remote.WithContext(ctx))
				if pushed := headErr == nil; pushed != strings.Contains(want, "push") {
					t.Errorf("after the push the tag exists = %v, want %v (a denied push must write nothing)", pushed, !pushed)
				}
				// delete: an image the admin pushed for this cell
				victim, _ := random.Image(128, 1)
				vref := ref.Tag("victim-" + strings.TrimPrefix(tag, "by-"))
				if err := remote.Write(vref, victim, carol, remote.WithContext(ctx)); err != nil {
					t.Fatal(err)
				}
				d, _ := victim.Digest()
				err = remote.Delete(ref.Digest(d.String()), auth, remote.WithContext(ctx))
				checkAllowed(t, "delete", strings.Contains(want, "delete"), err)
			})
		}
	}

	t.Run("catalog lists only what each may pull", func(t *testing.T) {
		for _, u := range users {
			got, err := remote.Catalog(ctx, reg, login(u.user, u.password))
			if err != nil {
				t.Fatalf("%s: catalog: %v", u.name, err)
			}
			var want []string
			for _, r := range repos {
				if strings.Contains(allowed[u.user][r], "pull") {
					want = append(want, r)
				}
			}
			if fmt.Sprint(sortedCopy(got)) != fmt.Sprint(sortedCopy(want)) {
				t.Errorf("%s: catalog %v, want %v", u.name, got, want)
			}
		}
	})
}

func checkAllowed(t *testing.T, action string, allowed bool, err error) {
	t.Helper()
	switch code := statusOf(err); {
	case allowed && err != nil:
		t.Errorf("%s refused (%v), want allowed", action, err)
	case !allowed && err == nil:
		t.Errorf("%s allowed, want refused", action)
	case !allowed && code != http.StatusUnauthorized && code != http.StatusForbidden:
		t.Errorf("%s refused with %v, want a 401 or 403", action, err)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestOIDCAnonymousThenLogin: a public repository pulls with no login; a
// private one answers 401 with a challenge, after which a login succeeds.
func TestOIDCAnonymousThenLogin(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-anon")
	st := s.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := seedAsAdmin(t, ctx, st, "public/base", "team-a/app")
	if _, err := remote.Image(reg.Repo("public/base").Tag("v1"), remote.WithContext(ctx)); err != nil {
		t.Fatalf("anonymous pull of a public repository: %v", err)
	}
	// The raw exchange a docker client goes through.
	resp, err := http.Get(st.URL + "/v2/team-a/app/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, `Bearer realm="`+st.URL+`/auth/token"`) || !strings.Contains(challenge, `scope="repository:team-a/app:pull"`) {
		t.Fatalf("private manifest without token = %d %q, want 401 with a Bearer challenge naming the token endpoint and scope", resp.StatusCode, challenge)
	}
	anonToken := fetchToken(t, st, "", "", "repository:team-a/app:pull")
	if code := getWithToken(t, st.URL+"/v2/team-a/app/manifests/v1", anonToken); code != http.StatusUnauthorized {
		t.Errorf("anonymous token on a private repository = %d, want 401", code)
	}
	aliceToken := fetchToken(t, st, "alice", "alice-password", "repository:team-a/app:pull")
	if code := getWithToken(t, st.URL+"/v2/team-a/app/manifests/v1", aliceToken); code != http.StatusOK {
		t.Errorf("after login = %d, want 200", code)
	}
}

func fetchToken(t *testing.T, st *stackrun.Stack, user, password string, scopes ...string) string {
	t.Helper()
	q := url.Values{"service": {"registry-stack"}, "scope": scopes}
	req, _ := http.NewRequest(http.MethodGet, st.URL+"/auth/token?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ans) != nil || ans.Token == "" {
		t.Fatalf("token for %q: status %d", user, resp.StatusCode)
	}
	return ans.Token
}

func getWithToken(t *testing.T, u, tok string) int {
	t.Helper()
	return statusWithToken(t, http.MethodGet, u, tok)
}

// statusWithToken sends a body-less request with a Bearer token, accepting
// image manifests, and returns the status.
func statusWithToken(t *testing.T, method, u, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOIDCCrossRepositoryMount: one token request with two scopes, and the
// blob is mounted (201), not uploaded again.
func TestOIDCCrossRepositoryMount(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-mount")
	st := s.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	img, _ := random.Image(4096, 1)
	if err := remote.Write(reg.Repo("team-a/src").Tag("v1"), img, login("alice", "alice-password"), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	digest, _ := layers[0].Digest()
	tok := fetchToken(t, st, "alice", "alice-password", "repository:team-a/dst:pull,push", "repository:team-a/src:pull")
	if code := statusWithToken(t, http.MethodPost, st.URL+"/v2/team-a/dst/blobs/uploads/?mount="+digest.String()+"&from=team-a/src", tok); code != http.StatusCreated {
		t.Fatalf("mount = %d, want 201 Created (both scopes granted in one token)", code)
	}
	// bob may not read team-a/src: his token gets no scope there, and the
	// mount falls back to an upload session instead of linking the blob.
	tok = fetchToken(t, st, "bob", "bob-password", "repository:team-b/dst:pull,push", "repository:team-a/src:pull")
	if code := statusWithToken(t, http.MethodPost, st.URL+"/v2/team-b/dst/blobs/uploads/?mount="+digest.String()+"&from=team-a/src", tok); code == http.StatusCreated {
		t.Fatal("bob mounted a blob from a repository he may not pull")
	}
}

// TestOIDCRevocation: a robot pushes with client credentials; a disabled
// robot, a disabled user and a removed group membership all take effect
// within the identity cache's bound (oidc.cache_ttl, 2s here).
func TestOIDCRevocation(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-revoke")
	const bound = 2 * time.Second
	st := s.start(t, []string{"REGISTRY_STACK_OIDC_CACHE_TTL=" + bound.String()})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	push := func(user, password, repo string) error {
		img, _ := random.Image(256, 1)
		return remote.Write(reg.Repo(repo).Tag("v1"), img, login(user, password), remote.WithContext(ctx))
	}
	if err := push(bootstrap.DemoRobot, s.robotSecret, "team-a/robot"); err != nil {
		t.Fatalf("robot push with client credentials: %v", err)
	}
	if err := push("alice", "alice-password", "team-a/alice"); err != nil {
		t.Fatalf("alice push: %v", err)
	}
	if err := push("bob", "bob-password", "team-b/bob"); err != nil {
		t.Fatalf("bob push: %v", err)
	}
	kc, tok, err := s.admin.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Disable the robot's client, disable bob, take alice out of /team-a.
	clients, err := kc.GetClients(ctx, tok, s.realm, gocloak.GetClientsParams{ClientID: gocloak.StringP(bootstrap.DemoRobot)})
	if err != nil || len(clients) != 1 {
		t.Fatalf("robot client: %v", err)
	}
	clients[0].Enabled = gocloak.BoolP(false)
	if err := kc.UpdateClient(ctx, tok, s.realm, *clients[0]); err != nil {
		t.Fatal(err)
	}
	bob, _ := s.admin.UserID(ctx, s.realm, "bob")
	if err := kc.UpdateUser(ctx, tok, s.realm, gocloak.User{ID: &bob, Username: gocloak.StringP("bob"), Enabled: gocloak.BoolP(false)}); err != nil {
		t.Fatal(err)
	}
	alice, _ := s.admin.UserID(ctx, s.realm, "alice")
	teamA, err := s.admin.EnsureGroup(ctx, s.realm, "/team-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.DeleteUserFromGroup(ctx, tok, s.realm, alice, teamA); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	// Within the bound plus the time a push takes, every one is refused.
	deadline := changed.Add(bound + 20*time.Second)
	for _, c := range []struct{ who, user, password, repo string }{
		{"disabled robot", bootstrap.DemoRobot, s.robotSecret, "team-a/robot"},
		{"disabled user", "bob", "bob-password", "team-b/bob"},
		{"user out of the group", "alice", "alice-password", "team-a/alice"},
	} {
		for {
			err := push(c.user, c.password, c.repo)
			if err != nil {
				t.Logf("%s refused %.1fs after the change", c.who, time.Since(changed).Seconds())
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still pushes %s after the change (cache bound %s)", c.who, time.Since(changed), bound)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// TestOIDCRequiredAction: a user whose login needs a required action (such
// as setting up OTP) is told what to use instead of "wrong password".
func TestOIDCRequiredAction(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-otp")
	st := s.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s.admin.EnsureUser(ctx, s.realm, "erin", "erin-password"); err != nil {
		t.Fatal(err)
	}
	kc, tok, err := s.admin.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	erin, _ := s.admin.UserID(ctx, s.realm, "erin")
	u, err := kc.GetUserByID(ctx, tok, s.realm, erin)
	if err != nil {
		t.Fatal(err)
	}
	u.RequiredActions = &[]string{"CONFIGURE_TOTP"}
	if err := kc.UpdateUser(ctx, tok, s.realm, *u); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, st.URL+"/auth/token?service=registry-stack&scope=repository:public/x:pull", nil)
	req.SetBasicAuth("erin", "erin-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "required action") || !strings.Contains(string(body), "one-time password") {
		t.Fatalf("login needing OTP setup = %d %s, want 401 saying a required action (one-time password) is pending and what to use instead", resp.StatusCode, body)
	}
}

// TestOIDCForgedTokens: tokens not signed by the stack's key, or signed but
// with claims that do not fit, are refused; so is a token Keycloak signed in
// the docker-v2 mode, unless oidc.accept_keycloak_docker_tokens says so.
func TestOIDCForgedTokens(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-forged")
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	st := s.start(t, []string{"REGISTRY_STACK_OIDC_SIGNING_KEY=" + keyFile})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	img, _ := random.Image(256, 1)
	if err := remote.Write(reg.Repo("team-a/app").Tag("v1"), img, login("alice", "alice-password"), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	// The kid the stack names its key with, from its JWKS.
	resp, err := http.Get(st.URL + "/auth/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var jwks jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if err != nil || len(jwks.Keys) != 1 || !jwks.Keys[0].IsPublic() {
		t.Fatalf("JWKS: %v %+v", err, jwks)
	}
	kid := jwks.Keys[0].KeyID

	real := fetchToken(t, st, "alice", "alice-password", "repository:team-a/app:pull")
	_, realClaims := splitToken(t, real)
	now := time.Now().Unix()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": realClaims["iss"], "sub": "forger", "aud": "registry-stack", "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": fmt.Sprint(now),
			"access": []map[string]any{{"type": "repository", "name": "team-a/app", "actions": []string{"pull"}}},
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	signES := func(k *ecdsa.PrivateKey, kid string, c map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		return compact(t, signer, c)
	}
	pull := func(tok string) int { return tagsStatus(t, st, "team-a/app", tok) }
	for name, tok := range map[string]string{
		"the stack's own token":            real,
		"signed with the key, good claims": signES(key, kid, claims(nil)),
	} {
		if got := pull(tok); got != http.StatusOK {
			t.Fatalf("control %q = %d: the forged cases below would prove nothing", name, got)
		}
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	header, payload := splitToken(t, real)
	tampered := strings.Split(real, ".")
	payload["access"] = []map[string]any{{"type": "repository", "name": "team-b/app", "actions": []string{"pull", "push"}}}
	tampered[1] = b64json(t, payload)

	// A docker-v2 token Keycloak itself signed for the same user.
	if _, _, err := s.admin.EnsureDockerClient(ctx, s.realm, "docker-registry"); err != nil {
		t.Fatal(err)
	}
	docker, err := dockertoken.Fetch(ctx, nil, keycloaktest.Realm{Server: s.kc, Name: s.realm}.Endpoints(t).DockerAuthURL(),
		dockertoken.Request{Service: "docker-registry", Scope: "repository:team-a/app:pull", User: "alice", Password: "alice-password"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"alg none":                        b64json(t, map[string]any{"alg": "none", "typ": "JWT", "kid": header["kid"]}) + "." + b64json(t, claims(nil)) + ".",
		"HS256 keyed with the public key": signHMAC(t, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), kid, claims(nil)),
		"another key, the stack's kid":    signES(stranger, kid, claims(nil)),
		"another key, its own kid":        signES(stranger, "stranger", claims(nil)),
		"expired":                         signES(key, kid, claims(func(c map[string]any) { c["exp"] = now - 600; c["iat"] = now - 900; c["nbf"] = now - 900 })),
		"another audience":                signES(key, kid, claims(func(c map[string]any) { c["aud"] = "another-service" })),
		"another issuer":                  signES(key, kid, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"tampered access claim":           strings.Join(tampered, "."),
		"Keycloak docker-v2 token":        docker,
		"garbage":                         "not.a.token",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if got := pull(tok); got != http.StatusUnauthorized {
				t.Fatalf("pull with the token = %d, want 401", got)
			}
		})
	}
	t.Run("Keycloak docker-v2 token when configured to accept it", func(t *testing.T) {
		migrating := s.start(t, []string{"REGISTRY_STACK_OIDC_ACCEPT_KEYCLOAK_DOCKER_TOKENS=true", "REGISTRY_STACK_KEYCLOAK_SERVICE=docker-registry"})
		if got := tagsStatus(t, migrating, "team-a/app", docker); got == http.StatusUnauthorized {
			t.Fatalf("Keycloak's docker-v2 token refused by a stack told to accept it")
		}
		if got := tagsStatus(t, migrating, "team-a/app", cases["another key, the stack's kid"]); got != http.StatusUnauthorized {
			t.Fatalf("a forged token passes once Keycloak's tokens are accepted: %d", got)
		}
	})
}

// TestOIDCPolicyReload: SIGHUP puts an edited policy in force while pulls
// run; no request fails because of the reload, and an invalid policy keeps
// the one in force, with one log line naming the rule.
func TestOIDCPolicyReload(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-reload")
	st := s.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	seedAsAdmin(t, ctx, st, "public/base", "team-a/app")
	if code := getWithToken(t, st.URL+"/v2/team-a/app/manifests/v1", fetchToken(t, st, "bob", "bob-password", "repository:team-a/app:pull")); code != http.StatusUnauthorized {
		t.Fatalf("bob pulls team-a before the reload: %d", code)
	}
	// Load: alice pulls public/base and team-a/app in a loop, each with a
	// fresh token, while the policy is swapped under her.
	stop := make(chan struct{})
	var requests, failures atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// No t.Fatal off the test's goroutine: failures are counted.
				tok, err := dockertoken.Fetch(ctx, nil, st.URL+"/auth/token", dockertoken.Request{
					Service: "registry-stack", Scope: "repository:public/base:pull repository:team-a/app:pull", User: "alice", Password: "alice-password"})
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				for _, r := range []string{"public/base", "team-a/app"} {
					requests.Add(1)
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.URL+"/v2/"+r+"/manifests/v1", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						failures.Add(1)
					}
					if err == nil {
						resp.Body.Close()
					}
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	// Grant bob pull on team-a and reload.
	edited := strings.Replace(readFile(t, s.configFile), `      - who: ["group:/team-a"]
        actions: [pull, push, delete]
`, `      - who: ["group:/team-a"]
        actions: [pull, push, delete]
      - who: ["user:bob"]
        actions: [pull]
`, 1)
	writeFile(t, s.configFile, edited)
	if err := st.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for getWithToken(t, st.URL+"/v2/team-a/app/manifests/v1", fetchToken(t, st, "bob", "bob-password", "repository:team-a/app:pull")) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the reloaded policy is not in force 20s after SIGHUP")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An invalid policy: the one in force stays, one line names the rule.
	writeFile(t, s.configFile, strings.Replace(edited, `["user:bob"]`, `["usr:bob"]`, 1))
	if err := st.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(st.Logs(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatal("no log line for the refused reload")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Keep the load on until enough requests have crossed the reloads (a
	// loaded machine serves fewer per second).
	for enough := time.Now().Add(time.Minute); requests.Load() < 20 && time.Now().Before(enough); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if !strings.Contains(st.Logs(), `policy.repositories[\"team-a/**\"][1].who[0]`) {
		t.Errorf("the refused reload's log line does not name the rule:\n%s", st.Logs())
	}
	if code := getWithToken(t, st.URL+"/v2/team-a/app/manifests/v1", fetchToken(t, st, "bob", "bob-password", "repository:team-a/app:pull")); code != http.StatusOK {
		t.Errorf("after a refused reload bob's grant is gone (%d): the old policy must stay in force", code)
	}
	if failures.Load() != 0 || requests.Load() < 20 {
		t.Errorf("%d of %d requests failed during the reloads, want 0 of at least 20", failures.Load(), requests.Load())
	}
	t.Logf("%d requests during two reloads, %d failed", requests.Load(), failures.Load())
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOIDCSkopeo: skopeo's logins get what the policy says, no more.
func TestOIDCSkopeo(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		testenv.Missing(t, "skopeo")
	}
	s := newOIDCSetup(t, "rs-oidc-skopeo")
	st := s.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := seedAsAdmin(t, ctx, st, "public/base", "team-a/app")
	home := t.TempDir()
	skopeo := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "skopeo", append([]string{"--insecure-policy"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	src := "docker://" + st.Addr + "/public/base:v1"
	for _, c := range []struct {
		name  string
		args  []string
		allow bool
	}{
		{"anonymous inspects public", []string{"inspect", "--tls-verify=false", "--no-creds", src}, true},
		{"anonymous inspects team-a", []string{"inspect", "--tls-verify=false", "--no-creds", "docker://" + st.Addr + "/team-a/app:v1"}, false},
		{"bob inspects team-a", []string{"inspect", "--tls-verify=false", "--creds", "bob:bob-password", "docker://" + st.Addr + "/team-a/app:v1"}, false},
		{"alice copies into public", []string{"copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-no-creds", "--dest-creds", "alice:alice-password", src, "docker://" + st.Addr + "/public/copy:v1"}, true},
		{"bob copies into public", []string{"copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-no-creds", "--dest-creds", "bob:bob-password", src, "docker://" + st.Addr + "/public/bob:v1"}, false},
		{"robot copies into team-a", []string{"copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-no-creds", "--dest-creds", bootstrap.DemoRobot + ":" + s.robotSecret, src, "docker://" + st.Addr + "/team-a/robot:v1"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := skopeo(c.args...)
			if c.allow && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.allow && err == nil {
				t.Fatal("allowed, want refused")
			}
		})
	}
	if _, err := remote.Head(reg.Repo("public/bob").Tag("v1"), login("carol", "carol-password"), remote.WithContext(ctx)); err == nil {
		t.Error("bob's refused copy wrote the tag")
	}
}

// TestOIDCDemoCommandLine runs the commands the README gives: bootstrap
// --demo (twice: it is idempotent), then serve with configs/policy-demo.yaml
// and the flags overriding it, then a robot push with the printed secret and
// policy explain --live.
func TestOIDCDemoCommandLine(t *testing.T) {
	kc := keycloaktest.Require(t)
	realm := kc.TempRealm(t, "rs-oidc-demo")
	env := []string{"KEYCLOAK_ADMIN_USER=" + kc.AdminUser, "KEYCLOAK_ADMIN_PASSWORD=" + kc.AdminPassword}
	var secret string
	for i := range 2 {
		code, stdout, stderr := stackrun.RunCLI(t, env, "bootstrap", "--keycloak-url", kc.URL, "--realm", realm, "--demo")
		if code != 0 {
			t.Fatalf("bootstrap --demo run %d: exit %d\n%s", i+1, code, stderr)
		}
		for _, line := range strings.Split(stdout, "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[0] == "robot" && f[1] == bootstrap.DemoRobot && f[2] == "secret" {
				if secret != "" && secret != f[3] {
					t.Errorf("the second run changed the robot's secret")
				}
				secret = f[3]
			}
		}
		if secret == "" || !strings.Contains(stdout, "auth: oidc") {
			t.Fatalf("bootstrap --demo printed no robot secret line or no oidc config:\n%s", stdout)
		}
	}
	dataDir := t.TempDir()
	st := stackrun.Start(t, nil, "--config", "../../configs/policy-demo.yaml", "--keycloak-url", kc.URL, "--keycloak-realm", realm, "--public-url=", "--data-dir", dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	img, _ := random.Image(256, 1)
	if err := remote.Write(reg.Repo("team-a/ci").Tag("v1"), img, login(bootstrap.DemoRobot, secret), remote.WithContext(ctx)); err != nil {
		t.Fatalf("robot push with the printed secret: %v", err)
	}
	if err := remote.Write(reg.Repo("team-b/ci").Tag("v1"), img, login(bootstrap.DemoRobot, secret), remote.WithContext(ctx)); statusOf(err) != http.StatusUnauthorized && statusOf(err) != http.StatusForbidden {
		t.Fatalf("robot push to team-b: %v, want refused", err)
	}
	if info, err := os.Stat(filepath.Join(dataDir, "token-signing-key.pem")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("generated signing key: %v, mode %v; want one with mode 0600 in the data dir", err, info)
	}
	code, stdout, stderr := stackrun.RunCLI(t, env, "policy", "explain", "--config", "../../configs/policy-demo.yaml",
		"--user", "bob", "--live", "--keycloak-url", kc.URL, "--keycloak-realm", realm, "--scope", "repository:team-b/app:push", "--scope", "repository:team-a/app:pull")
	if code != 0 || !strings.Contains(stdout, "/team-b") {
		t.Fatalf("policy explain --live: exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "allow repository:team-b/app:push") || !strings.HasPrefix(lines[2], "deny repository:team-a/app:pull") {
		t.Errorf("policy explain --live for bob:\n%s", stdout)
	}
}

// TestOIDCRealmExport: configs/keycloak/registry-stack-realm.json, which
// configs/compose.yaml imports, holds the same layout bootstrap --demo
// makes, and configs/policy-demo.yaml serves it.
func TestOIDCRealmExport(t *testing.T) {
	kc := keycloaktest.Require(t)
	realm := kc.TempRealm(t, "rs-oidc-export")
	var rep gocloak.RealmRepresentation
	if err := json.Unmarshal([]byte(readFile(t, "../../configs/keycloak/registry-stack-realm.json")), &rep); err != nil {
		t.Fatal(err)
	}
	rep.Realm = gocloak.StringP(realm)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gc, tok, err := kc.Admin(t).Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.CreateRealm(ctx, tok, rep); err != nil {
		t.Fatalf("import the realm export: %v", err)
	}
	st := stackrun.Start(t, nil, "--config", "../../configs/policy-demo.yaml", "--keycloak-url", kc.URL, "--keycloak-realm", realm, "--public-url=")
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	img, _ := random.Image(256, 1)
	for _, c := range []struct {
		user, password, repo string
		allowed              bool
	}{
		{"alice", "alice-password", "team-a/app", true},
		{"bob", "bob-password", "team-a/app", false},
		{"carol", "carol-password", "other/app", true},
		{bootstrap.DemoRobot, "ci-robot-demo-secret", "team-a/robot", true},
		{bootstrap.DemoRobot, "ci-robot-demo-secret", "team-b/robot", false},
	} {
		err := remote.Write(reg.Repo(c.repo).Tag("v1"), img, login(c.user, c.password), remote.WithContext(ctx))
		if (err == nil) != c.allowed {
			t.Errorf("%s pushes %s: %v, want allowed=%v", c.user, c.repo, err, c.allowed)
		}
	}
}

// TestOIDCThrottle: after repeated wrong passwords for one user the stack
// answers 429 with Retry-After itself, without asking Keycloak, while other
// users still get in.
func TestOIDCThrottle(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-throttle")
	st := s.start(t, nil)
	try := func(user, password string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, st.URL+"/auth/token?service=registry-stack", nil)
		req.SetBasicAuth(user, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		if r := try("alice", fmt.Sprintf("wrong-%d", i)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, r.StatusCode)
		}
	}
	r := try("alice", "wrong-again")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth wrong password: %d (Retry-After %q), want 429 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := try("alice", "alice-password"); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password while throttled: %d, want 429 (the password grant is not tried)", r.StatusCode)
	}
	if r := try("bob", "bob-password"); r.StatusCode != http.StatusOK {
		t.Errorf("another user while alice is throttled: %d, want 200", r.StatusCode)
	}
}

// seedAsAdmin has carol, the demo's admin, push an image tagged v1 into
// each of repos, and returns the stack's registry for the client.
func seedAsAdmin(t *testing.T, ctx context.Context, st *stackrun.Stack, repos ...string) name.Registry {
	t.Helper()
	return seedAs(t, ctx, st, "carol", "carol-password", repos...)
}

// seedAs has user push an image tagged v1 into each of repos.
func seedAs(t *testing.T, ctx context.Context, st *stackrun.Stack, user, password string, repos ...string) name.Registry {
	t.Helper()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	for _, r := range repos {
		img, _ := random.Image(512, 1)
		if err := remote.Write(reg.Repo(r).Tag("v1"), img, login(user, password), remote.WithContext(ctx)); err != nil {
			t.Fatalf("%s seeds %s: %v", user, r, err)
		}
	}
	return reg
}

// TestOIDCKeycloakAccessToken: a Keycloak access token (as a CI job or
// single sign-on gets one) is accepted as the password and as a Bearer
// token at the token endpoint, verified locally; one issued for another
// client is refused.
func TestOIDCKeycloakAccessToken(t *testing.T) {
	s := newOIDCSetup(t, "rs-oidc-bearer")
	st := s.start(t, nil)
	seedAsAdmin(t, context.Background(), st, "team-a/app")
	realm := keycloaktest.Realm{Server: s.kc, Name: s.realm}.Endpoints(t)
	accessToken := func(form url.Values) string {
		t.Helper()
		resp, err := http.PostForm(realm.OIDCTokenURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ans) != nil || ans.AccessToken == "" {
			t.Fatalf("Keycloak token: %d", resp.StatusCode)
		}
		return ans.AccessToken
	}
	alice := accessToken(url.Values{"grant_type": {"password"}, "client_id": {bootstrap.DemoClientID}, "username": {"alice"}, "password": {"alice-password"}, "scope": {"openid"}})
	robot := accessToken(url.Values{"grant_type": {"client_credentials"}, "client_id": {bootstrap.DemoRobot}, "client_secret": {s.robotSecret}})
	get := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, st.URL+"/auth/token?service=registry-stack&scope=repository:team-a/app:pull", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct{ Token string }
		_ = json.NewDecoder(resp.Body).Decode(&ans)
		if resp.StatusCode == http.StatusOK && getWithToken(t, st.URL+"/v2/team-a/app/manifests/v1", ans.Token) != http.StatusOK {
			return -1 // a token, but not one that pulls
		}
		return resp.StatusCode
	}
	basicAuth := func(user, password string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	}
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"alice's access token as the password", basicAuth("alice", alice), http.StatusOK},
		{"alice's access token as a Bearer token", "Bearer " + alice, http.StatusOK},
		{"a token for another client (the robot's own)", "Bearer " + robot, http.StatusUnauthorized},
		{"a tampered access token", "Bearer " + alice[:len(alice)-4] + "AAAA", http.StatusUnauthorized},
	} {
		if got := get(c.auth); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
