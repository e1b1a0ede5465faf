package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/dockertoken"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

// keycloakStack starts a realm and a stack in keycloak mode against it, and
// checks at the end that the stack's logs hold neither the password nor any
// token handed out in the test.
func keycloakStack(t *testing.T, prefix string, extra ...string) (keycloaktest.Realm, *stackrun.Stack) {
	t.Helper()
	kc := keycloaktest.Require(t)
	realm := keycloaktest.NewRealm(t, kc, prefix)
	st := stackrun.Start(t, nil, append(realm.StackArgs(), extra...)...)
	t.Cleanup(func() {
		logs := st.Logs()
		if strings.Contains(logs, realm.Password) {
			t.Errorf("stack logs contain the user's password")
		}
		if strings.Contains(logs, "eyJ") {
			t.Errorf("stack logs contain something that looks like a JWT")
		}
	})
	return realm, st
}

func basic(r keycloaktest.Realm) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password})
}

func TestKeycloakClients(t *testing.T) {
	realm, st := keycloakStack(t, "clients")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	app := reg.Repo("team", "app")
	auth := basic(realm)
	clientscenarios.PushPullImage(t, ctx, app.Tag("v1"), auth)
	clientscenarios.PushPullImage(t, ctx, app.Tag("v2"), auth)
	clientscenarios.PushPullIndex(t, ctx, reg.Repo("team", "multiarch").Tag("1.0"), auth)
	clientscenarios.CheckCatalogAndTags(t, ctx, reg, []string{"team/app", "team/multiarch"}, app, []string{"v1", "v2"}, auth)
	clientscenarios.DeleteByDigest(t, ctx, app.Tag("v1"), auth)
	clientscenarios.CheckCatalogAndTags(t, ctx, reg, []string{"team/app"}, app, []string{"v2"}, auth)

	t.Run("wrong password writes nothing", func(t *testing.T) {
		img, _ := random.Image(1024, 1)
		bad := remote.WithAuth(&authn.Basic{Username: realm.User, Password: "wrong-password"})
		err := remote.Write(reg.Repo("team", "intruder").Tag("x"), img, bad, remote.WithContext(ctx))
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
			t.Fatalf("push with a wrong password: err = %v, want a 401", err)
		}
		cat, err := remote.Catalog(ctx, reg, auth)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(cat, "team/intruder") {
			t.Fatalf("a push with a wrong password created a repository: %v", cat)
		}
	})
}

func TestKeycloakSkopeo(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		testenv.Missing(t, "skopeo")
	}
	realm, st := keycloakStack(t, "skopeo")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	src := reg.Repo("skopeo", "source").Tag("1")
	img := clientscenarios.PushPullImage(t, ctx, src, basic(realm))
	want, _ := img.Digest()
	dir := t.TempDir()
	creds := realm.User + ":" + realm.Password
	skopeo := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "skopeo", append([]string{"--insecure-policy"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
	// Out of the registry into a local OCI layout, then back in under a new name.
	skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, "docker://"+src.String(), "oci:"+dir+"/layout:1")
	skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, "--preserve-digests", "oci:"+dir+"/layout:1", "docker://"+st.Addr+"/skopeo/copy:1")
	if out := skopeo("inspect", "--tls-verify=false", "--creds", creds, "docker://"+src.String()); !strings.Contains(out, `"Digest": "`+want.String()+`"`) {
		t.Errorf("skopeo inspect of the source does not show digest %s:\n%s", want, out)
	}
	out := skopeo("inspect", "--tls-verify=false", "--creds", creds, "docker://"+st.Addr+"/skopeo/copy:1")
	var got struct {
		Digest string
		Layers []string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("skopeo inspect output: %v\n%s", err, out)
	}
	// Copying into an OCI layout converts the Docker manifest to OCI, so the
	// manifest digest is the layout's; the layer blobs are unchanged.
	var index struct{ Manifests []struct{ Digest string } }
	raw, err := os.ReadFile(dir + "/layout/index.json")
	if err != nil || json.Unmarshal(raw, &index) != nil || len(index.Manifests) != 1 {
		t.Fatalf("read the OCI layout skopeo wrote: %v %s", err, raw)
	}
	if got.Digest != index.Manifests[0].Digest {
		t.Errorf("pushed copy has digest %s, the layout had %s (--preserve-digests)", got.Digest, index.Manifests[0].Digest)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var wantLayers []string
	for _, l := range layers {
		d, _ := l.Digest()
		wantLayers = append(wantLayers, d.String())
	}
	if !slices.Equal(got.Layers, wantLayers) {
		t.Errorf("layers after the round trip = %v, want %v", got.Layers, wantLayers)
	}
}

// TestTokenEndpointChallenges covers what browsers and docker see from the
// token endpoint without credentials, and CORS.
func TestTokenEndpointChallenges(t *testing.T) {
	realm, st := keycloakStack(t, "challenge")
	tokenURL := st.URL + realm.TokenPath() + "?service=" + realm.Service + "&scope=repository:a/b:pull"
	get := func(header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, tokenURL, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get(nil); resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("no credentials: %d %q, want 401 with a Basic challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := get(map[string]string{"X-Requested-With": "XMLHttpRequest"}); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "" || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("UI-marked: %d %q %q, want 401 JSON without WWW-Authenticate", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Content-Type"))
	}
	for _, origin := range []string{"https://evil.example", "null", st.URL + ".evil.example"} {
		resp := get(map[string]string{"Origin": origin, "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(realm.User+":"+realm.Password))})
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("foreign origin %q got Access-Control-Allow-Origin %q", origin, got)
		}
		req, _ := http.NewRequest(http.MethodOptions, tokenURL, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		pre, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		pre.Body.Close()
		if got := pre.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from %q got Access-Control-Allow-Origin %q", origin, got)
		}
	}
	// The registry's own challenge points at the stack's token endpoint.
	resp, err := http.Get(st.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := fmt.Sprintf(`Bearer realm="%s%s",service="%s"`, st.URL, realm.TokenPath(), realm.Service)
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), want) {
		t.Errorf("/v2/ = %d %q, want 401 %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
}

// TestForgedTokensRefused sends tokens that must all be refused with 401,
// each next to a control that is accepted, so every refusal is for the
// reason named and not an accident of the setup.
func TestForgedTokensRefused(t *testing.T) {
	realm, st := keycloakStack(t, "forged")
	other := keycloaktest.NewRealm(t, realm.Server, "other")

	// A key the realm trusts (imported into Keycloak), so tokens with any
	// claims can be made; only the claim checks can refuse them.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	realm.ImportRSAKey(t, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	trustedKid := jwksKid(t, realm, &key.PublicKey)
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)

	real := realm.StackToken(t, st.URL, "repository:team/app:pull")
	_, realClaims := splitToken(t, real)
	issuer := realClaims["iss"].(string)
	now := time.Now().Unix()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": issuer, "sub": "forger", "aud": realm.Service, "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": fmt.Sprint(now),
			"access": []map[string]any{{"type": "repository", "name": "team/app", "actions": []string{"pull"}}},
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	pull := func(tok string) int {
		t.Helper()
		return tagsStatus(t, st, "team/app", tok)
	}
	// Controls: the real token and a well-formed one signed with the trusted
	// imported key are both accepted (404: the repository is empty).
	for name, tok := range map[string]string{
		"real keycloak token":      real,
		"trusted key, good claims": sign(t, key, trustedKid, "RS256", claims(nil)),
	} {
		if got := pull(tok); got == http.StatusUnauthorized {
			t.Fatalf("control %q refused (%d): the forged cases below would prove nothing", name, got)
		}
	}

	header, payload := splitToken(t, real)
	tampered := strings.Split(real, ".")
	payload["access"] = []map[string]any{{"type": "repository", "name": "team/secret", "actions": []string{"pull", "push"}}}
	tampered[1] = b64json(t, payload)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)

	cases := map[string]string{
		"alg none":                      b64json(t, map[string]any{"alg": "none", "typ": "JWT", "kid": header["kid"]}) + "." + b64json(t, claims(nil)) + ".",
		"HS256 keyed with public key":   signHMAC(t, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), trustedKid, claims(nil)),
		"HS256 keyed with DER":          signHMAC(t, pubDER, trustedKid, claims(nil)),
		"unknown kid, untrusted key":    sign(t, stranger, "ABCD:EFGH:IJKL:MNOP:QRST:UVWX:YZ23:4567:ABCD:EFGH:IJKL:MNOP", "RS256", claims(nil)),
		"trusted kid, untrusted key":    sign(t, stranger, trustedKid, "RS256", claims(nil)),
		"expired":                       sign(t, key, trustedKid, "RS256", claims(func(c map[string]any) { c["exp"] = now - 600; c["iat"] = now - 900; c["nbf"] = now - 900 })),
		"not yet valid":                 sign(t, key, trustedKid, "RS256", claims(func(c map[string]any) { c["nbf"] = now + 600; c["iat"] = now + 600; c["exp"] = now + 900 })),
		"wrong issuer":                  sign(t, key, trustedKid, "RS256", claims(func(c map[string]any) { c["iss"] = issuer + "-evil" })),
		"wrong audience":                sign(t, key, trustedKid, "RS256", claims(func(c map[string]any) { c["aud"] = "another-service" })),
		"tampered payload":              strings.Join(tampered, "."),
		"token from another realm":      other.Token(t, "repository:team/app:pull"),
		"access for another repository": realm.StackToken(t, st.URL, "repository:team/other:pull"),
		"access for another action": sign(t, key, trustedKid, "RS256", claims(func(c map[string]any) {
			c["access"] = []map[string]any{{"type": "repository", "name": "team/app", "actions": []string{"push"}}}
		})),
		"no access claim": sign(t, key, trustedKid, "RS256", claims(func(c map[string]any) { delete(c, "access") })),
		"garbage":         "not.a.token",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if got := pull(tok); got != http.StatusUnauthorized {
				t.Fatalf("GET with forged token = %d, want 401", got)
			}
		})
	}
	// A pull-only token cannot push.
	if code := statusWithToken(t, http.MethodPost, st.URL+"/v2/team/app/blobs/uploads/", real); code != http.StatusUnauthorized {
		t.Fatalf("push with a pull-only token = %d, want 401", code)
	}
}

// TestKeyRotation adds a new active key in Keycloak while the stack runs;
// tokens signed with it are accepted without a restart.
func TestKeyRotation(t *testing.T) {
	realm, st := keycloakStack(t, "rotation")
	scope := "repository:rot/app:pull"
	status := func(tok string) int { return tagsStatus(t, st, "rot/app", tok) }
	before := realm.StackToken(t, st.URL, scope)
	if got := status(before); got == http.StatusUnauthorized {
		t.Fatalf("token before rotation refused")
	}
	realm.AddRSAKey(t, 500)
	after := realm.StackToken(t, st.URL, scope)
	h1, _ := splitToken(t, before)
	h2, _ := splitToken(t, after)
	if h1["kid"] == h2["kid"] {
		t.Fatalf("Keycloak still signs with the old key %v; rotation did not happen", h1["kid"])
	}
	if got := status(after); got == http.StatusUnauthorized {
		t.Fatalf("token signed with the rotated key refused: %d", got)
	}
	if got := status(before); got == http.StatusUnauthorized {
		t.Fatalf("token signed with the old, still enabled key refused after rotation")
	}
}

// tagsStatus is the status of a tag list request for repo with token.
func tagsStatus(t *testing.T, st *stackrun.Stack, repo, token string) int {
	t.Helper()
	return statusWithToken(t, http.MethodGet, st.URL+"/v2/"+repo+"/tags/list", token)
}

func jwksKid(t *testing.T, realm keycloaktest.Realm, pub *rsa.PublicKey) string {
	t.Helper()
	resp, err := http.Get(realm.Endpoints(t).CertsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.Equal(pub) {
			return k.KeyID
		}
	}
	t.Fatalf("imported key not in the realm's JWKS")
	return ""
}

func sign(t *testing.T, key *rsa.PrivateKey, kid, alg string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	return compact(t, s, claims)
}

func signHMAC(t *testing.T, secret []byte, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	return compact(t, s, claims)
}

func compact(t *testing.T, s jose.Signer, claims map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func splitToken(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	if err := dockertoken.DecodeUnverified(tok, &header, &claims); err != nil {
		t.Fatal(err)
	}
	return header, claims
}

func b64json(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
