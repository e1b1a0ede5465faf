package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/browsertest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// crossOriginPage behaves like Joxit docker-registry-ui with REGISTRY_URL
// pointing at the stack from another origin: every call is an XHR with
// withCredentials; on a 401 it reads the Bearer challenge, asks the realm
// it names with Basic credentials, and retries with the token. It writes
// what happened into the page, for the screenshot.
const crossOriginPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>registry UI on another origin</title>
<style>body{font:14px monospace;margin:2em}</style></head>
<body><h1>registry UI on another origin</h1><pre id="out"></pre>
<script>
function send(method, url, headers) {
  return new Promise(resolve => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    x.withCredentials = true;
    for (const [k, v] of Object.entries(headers || {})) x.setRequestHeader(k, v);
    x.onload = () => resolve({status: x.status, body: x.responseText,
      challenge: x.getResponseHeader('WWW-Authenticate') || '',
      digest: x.getResponseHeader('Docker-Content-Digest') || ''});
    x.onerror = () => resolve({status: 0, body: '', challenge: '', digest: '', error: 'XHR failed'});
    x.send();
  });
}
function challengeOf(h) {
  const m = /^Bearer\s+(.*)$/i.exec(h);
  if (!m) return null;
  const c = {};
  for (const p of m[1].matchAll(/(\w+)="([^"]*)"/g)) c[p[1]] = p[2];
  return c;
}
// tokenWithBasic asks a token endpoint directly, as the sign-in of a UI does.
window.tokenWithBasic = async function (url, user, password) {
  return send('GET', url, {Authorization: 'Basic ' + btoa(user + ':' + password)});
};
window.registryUI = async function (registry, user, password, repo, tag, digest) {
  const steps = [];
  const out = document.getElementById('out');
  const note = (step, r) => {
    steps.push({step, status: r.status, challenge: r.challenge, digest: r.digest, error: r.error || ''});
    out.textContent += step + ': ' + (r.error || r.status) + (r.digest ? '  Docker-Content-Digest ' + r.digest : '') + '\n';
  };
  async function call(step, method, path, headers) {
    let r = await send(method, registry + path, headers);
    note(step, r);
    const c = r.status === 401 ? challengeOf(r.challenge) : null;
    if (!c) return r;
    let url = c.realm + '?service=' + encodeURIComponent(c.service || '');
    if (c.scope) url += '&scope=' + encodeURIComponent(c.scope);
    const t = await send('GET', url, {Authorization: 'Basic ' + btoa(user + ':' + password)});
    note(step + ': token', t);
    if (t.status !== 200) return r;
    r = await send(method, registry + path, Object.assign({}, headers, {Authorization: 'Bearer ' + JSON.parse(t.body).token}));
    note(step + ': with token', r);
    return r;
  }
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
  const res = {steps};
  const cat = await call('catalog', 'GET', '/v2/_catalog?n=100');
  res.catalog = cat.status === 200 ? JSON.parse(cat.body).repositories : null;
  const tags = await call('tags', 'GET', '/v2/' + repo + '/tags/list');
  res.tags = tags.status === 200 ? JSON.parse(tags.body).tags : null;
  res.getDigest = (await call('manifest', 'GET', '/v2/' + repo + '/manifests/' + tag, {Accept: accept})).digest;
  res.headDigest = (await call('manifest head', 'HEAD', '/v2/' + repo + '/manifests/' + tag, {Accept: accept})).digest;
  // Delete by the digest read from the answer, as Joxit does; a page that
  // could not read it tries the known one, which must fail all the same.
  const d = res.headDigest || digest;
  res.deleteStatus = (await call('delete', 'DELETE', '/v2/' + repo + '/manifests/' + d)).status;
  res.afterDelete = (await call('deleted manifest', 'GET', '/v2/' + repo + '/manifests/' + d, {Accept: accept})).status;
  return res;
};
</script></body></html>`

// uiResult is what registryUI returns.
type uiResult struct {
	Steps []struct {
		Step, Challenge, Digest, Error string
		Status                         int
	}
	Catalog, Tags         []string
	GetDigest, HeadDigest string
	DeleteStatus          int
	AfterDelete           int
}

// servePage serves crossOriginPage from an origin of its own.
func servePage(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, crossOriginPage)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestCrossOriginUI: a registry UI served from a listed origin lists,
// reads and deletes through the whole API in every auth mode, with its
// credentials going to the token endpoint the challenge names; the same
// page from an unlisted origin can read nothing and delete nothing.
func TestCrossOriginUI(t *testing.T) {
	tab := browsertest.NewBrowser(t)
	listed, unlisted := servePage(t), servePage(t)
	env := []string{"REGISTRY_STACK_HTTP_CORS_ORIGINS=" + listed.URL, "REGISTRY_STACK_STORAGE_DELETE=true"}

	modes := []struct {
		name  string
		start func(t *testing.T) (*stackrun.Stack, clientLogin, string) // the last: the token path
	}{
		{"none", func(t *testing.T) (*stackrun.Stack, clientLogin, string) {
			return stackrun.Start(t, env), clientLogin{namespace: "team"}, ""
		}},
		{"keycloak", func(t *testing.T) (*stackrun.Stack, clientLogin, string) {
			// The seed's spelling, keycloak.cors_origins, in a config file.
			cfg := filepath.Join(t.TempDir(), "cors.yaml")
			writeFile(t, cfg, "storage:\n  delete: true\nkeycloak:\n  cors_origins: ["+listed.URL+"]\n")
			realm, st := keycloakStack(t, "rs-cors", "--config", cfg)
			return st, clientLogin{realm.User, realm.Password, "team"}, realm.TokenPath()
		}},
		{"oidc", func(t *testing.T) (*stackrun.Stack, clientLogin, string) {
			// alice of the demo layout may pull, push and delete in team-a.
			return newOIDCSetup(t, "rs-cors-oidc").start(t, env), clientLogin{"alice", "alice-password", "team-a"}, "/auth/token"
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			st, l, tokenPath := m.start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			repoName := l.namespace + "/cors"
			reg, _ := name.NewRegistry(st.Addr, name.Insecure)
			ref := reg.Repo(repoName).Tag("v1")
			img, err := random.Image(512, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img, login(l.user, l.password), remote.WithContext(ctx)); err != nil {
				t.Fatalf("push %s: %v", ref, err)
			}
			digest, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			run := func(page *httptest.Server) uiResult {
				t.Helper()
				tab.Do(t, "open "+page.URL, chromedp.Navigate(page.URL+"/"), chromedp.WaitReady(css(`#out`)))
				expr := fmt.Sprintf("registryUI(%q, %q, %q, %q, %q, %q)", st.URL, l.user, l.password, repoName, "v1", digest.String())
				return browsertest.Eval[uiResult](t, tab, expr)
			}

			// An unlisted origin first, while there is something to delete.
			got := run(unlisted)
			for _, s := range got.Steps {
				if s.Status != 0 || s.Error == "" {
					t.Errorf("unlisted origin, %s: status %d, want the XHR to fail", s.Step, s.Status)
				}
			}
			if len(got.Steps) != 6 || got.Catalog != nil || got.HeadDigest != "" {
				t.Errorf("unlisted origin read something: %+v", got)
			}
			wantBlocked := len(got.Steps)
			if tokenPath != "" {
				// Nor can it get a token with the user's password.
				tok := browsertest.Eval[struct{ Status int }](t, tab, fmt.Sprintf("tokenWithBasic(%q, %q, %q)", st.URL+tokenPath+"?service=x", l.user, l.password))
				if tok.Status != 0 {
					t.Errorf("unlisted origin, token endpoint: %d, want the XHR to fail", tok.Status)
				}
				wantBlocked++
			}
			if _, err := remote.Head(reg.Repo(repoName).Digest(digest.String()), login(l.user, l.password), remote.WithContext(ctx)); err != nil {
				t.Fatalf("the manifest is gone after the unlisted origin's DELETE: %v", err)
			}
			// Each failure is the browser's CORS check, not a network error.
			blocked := 0
			for _, p := range tab.Problems() {
				if strings.Contains(p, "blocked by CORS policy") {
					blocked++
					continue
				}
				t.Errorf("unlisted origin: browser problem: %s", p)
			}
			if blocked != wantBlocked {
				t.Errorf("the browser blocked %d requests for CORS, want %d", blocked, wantBlocked)
			}
			tab.Screenshot(t, "cors-unlisted-"+m.name)

			got = run(listed)
			tab.Screenshot(t, "cors-"+m.name)
			for _, p := range tab.Problems() {
				t.Errorf("listed origin: browser problem: %s", p)
			}
			first := got.Steps[0]
			if l.user == "" {
				if first.Status != http.StatusOK {
					t.Errorf("catalog: %d, want 200", first.Status)
				}
			} else if first.Status != http.StatusUnauthorized || !strings.HasPrefix(first.Challenge, `Bearer realm="`+st.URL+"/") {
				t.Errorf("first catalog request: %d challenge %q, want 401 with a readable challenge naming %s", first.Status, first.Challenge, st.URL)
			}
			for _, s := range got.Steps {
				if s.Status == 0 {
					t.Errorf("listed origin, %s: the XHR failed", s.Step)
				}
				if strings.HasSuffix(s.Step, ": token") && s.Status != http.StatusOK {
					t.Errorf("listed origin, %s: %d, want 200", s.Step, s.Status)
				}
			}
			if !slices.Contains(got.Catalog, repoName) || !slices.Contains(got.Tags, "v1") {
				t.Errorf("catalog %q, tags %q; want %s with v1", got.Catalog, got.Tags, repoName)
			}
			if got.GetDigest != digest.String() || got.HeadDigest != digest.String() {
				t.Errorf("Docker-Content-Digest read from GET %q, HEAD %q; want %s", got.GetDigest, got.HeadDigest, digest)
			}
			if got.DeleteStatus != http.StatusAccepted || got.AfterDelete != http.StatusNotFound {
				t.Errorf("DELETE by digest: %d, then GET: %d; want 202, 404", got.DeleteStatus, got.AfterDelete)
			}
			if t.Failed() {
				t.Logf("steps: %+v", got.Steps)
			}
		})
	}
}
