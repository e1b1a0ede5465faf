package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// cacheRepo names repository repo at the registry at addr.
func cacheRepo(t *testing.T, addr, repo string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(addr+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// blobFile is where filesystem storage under dataDir keeps blob d.
func blobFile(dataDir string, d v1.Hash) string {
	return filepath.Join(dataDir, "registry", "docker", "registry", "v2", "blobs", d.Algorithm, d.Hex[:2], d.Hex, "data")
}

// imageBlobs is every blob of img: manifest, config, layers.
func imageBlobs(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	out := []v1.Hash{d, m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// pullAll pulls ref's image through the registry and reads every layer,
// checking its content against its digest; it returns the image's digest.
func pullAll(t *testing.T, ctx context.Context, ref name.Reference, opts ...remote.Option) v1.Hash {
	t.Helper()
	img, err := remote.Image(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("layers of %s: %v", ref, err)
	}
	for _, l := range layers {
		want, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer %v of %s: %v", want, ref, err)
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || got != want {
			t.Fatalf("layer of %s hashes to %v (%v), want %v", ref, got, err, want)
		}
	}
	if _, err := img.RawConfigFile(); err != nil {
		t.Fatalf("config of %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFor polls done until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPullThroughCache: a cache of an upstream in mode none serves what it
// pulled with the upstream's digests, keeps it in its own storage, serves it
// with the upstream stopped, and refuses every write with 405 UNSUPPORTED.
func TestPullThroughCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	up := stackrun.Start(t, nil, "--auth", "none")
	img, err := random.Image(256<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	upApp := cacheRepo(t, up.Addr, "lab/app")
	if err := remote.Write(upApp.Tag("v1"), img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push to upstream: %v", err)
	}
	idx := clientscenarios.PushPullIndex(t, ctx, cacheRepo(t, up.Addr, "lab/multi").Tag("1.0"))
	sha512Content := []byte("a blob the upstream knows by its sha512 digest")
	sha512Blob := clientscenarios.PushSHA512Blob(t, ctx, cacheRepo(t, up.Addr, "lab/sha512"), sha512Content)
	want, _ := img.Digest()

	cache := stackrun.Start(t, nil, "--auth", "none", "--proxy-remote-url", up.URL)
	app := cacheRepo(t, cache.Addr, "lab/app")

	if got := pullAll(t, ctx, app.Tag("v1")); got != want {
		t.Fatalf("digest through the cache %v, upstream's %v", got, want)
	}
	for _, b := range imageBlobs(t, img) {
		if _, err := os.Stat(blobFile(cache.DataDir, b)); err != nil {
			t.Errorf("blob %v is not in the cache's storage: %v", b, err)
		}
	}
	// distribution saves its expiry schedule to storage every 5s.
	waitFor(t, 20*time.Second, "the expiry schedule in the cache's storage", func() bool {
		_, err := os.Stat(filepath.Join(cache.DataDir, "registry", "scheduler-state.json"))
		return err == nil
	})

	t.Run("multi-platform index", func(t *testing.T) {
		ref := cacheRepo(t, cache.Addr, "lab/multi").Tag("1.0")
		got, err := remote.Index(ref, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull index through the cache: %v", err)
		}
		wantIdx, _ := idx.Digest()
		if d, _ := got.Digest(); d != wantIdx {
			t.Fatalf("index digest %v, upstream's %v", d, wantIdx)
		}
		m, err := got.IndexManifest()
		if err != nil || len(m.Manifests) != 2 {
			t.Fatalf("index has %d manifests (%v), want 2", len(m.Manifests), err)
		}
		for _, desc := range m.Manifests {
			if d := pullAll(t, ctx, ref.Context().Digest(desc.Digest.String())); d != desc.Digest {
				t.Fatalf("platform %v: digest %v, want %v", desc.Platform, d, desc.Digest)
			}
		}
	})

	// The cache stores a blob fetched by sha512 under its sha256 digest
	// with a sha512 alias, as a push would have.
	getSHA512 := func(t *testing.T) {
		a := send(t, "GET", cache.URL+"/v2/lab/sha512/blobs/"+sha512Blob.String(), nil, nil)
		if a.status != http.StatusOK || a.body != string(sha512Content) || a.header.Get("Docker-Content-Digest") != sha512Blob.String() {
			t.Errorf("blob by sha512 through the cache: %d %s %q", a.status, a.header.Get("Docker-Content-Digest"), a.body)
		}
	}
	t.Run("blob by sha512", getSHA512)

	t.Run("writes are refused", func(t *testing.T) {
		other, _ := random.Image(1024, 1)
		err := remote.Write(cacheRepo(t, cache.Addr, "lab/pushed").Tag("v1"), other, remote.WithContext(ctx))
		var te *transport.Error
		if !errors.As(err, &te) || te.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("push to the cache: %v, want 405", err)
		}
		for _, c := range []struct{ method, path string }{
			{"POST", "/v2/lab/pushed/blobs/uploads/"},
			{"PUT", "/v2/lab/app/manifests/v2"},
			{"DELETE", "/v2/lab/app/manifests/" + want.String()},
			{"DELETE", "/v2/lab/app/blobs/" + want.String()},
		} {
			a := send(t, c.method, cache.URL+c.path, map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, strings.NewReader("{}"))
			if a.status != http.StatusMethodNotAllowed || a.code() != "UNSUPPORTED" || !strings.Contains(a.body, "pull-through cache") || a.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d %s %q, want 405 UNSUPPORTED naming the cache", c.method, c.path, a.status, a.header.Get("Allow"), a.body)
			}
		}
	})

	// An SBOM attached at the upstream, listed through the cache.
	if err := remote.WriteLayer(upApp, static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json"), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	appDesc, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := putManifest(ctx, http.DefaultClient, upApp, artifact("application/spdx+json", *appDesc, nil)); err != nil {
		t.Fatalf("attach at the upstream: %v", err)
	}
	sbom, _, _ := v1.SHA256(strings.NewReader(string(artifact("application/spdx+json", *appDesc, nil))))
	listReferrers := func(t *testing.T, query string) []v1.Descriptor {
		t.Helper()
		a := send(t, "GET", cache.URL+"/v2/lab/app/referrers/"+want.String()+query, nil, nil)
		var index v1.IndexManifest
		if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &index) != nil {
			t.Fatalf("referrers through the cache: %d %q", a.status, a.body)
		}
		return index.Manifests
	}
	// The cache asks the upstream again once the list it last synced is a
	// few seconds old: a change there shows that late.
	awaitReferrers := func(t *testing.T, ok func([]v1.Descriptor) bool) []v1.Descriptor {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := listReferrers(t, "")
			if ok(got) || time.Now().After(deadline) {
				return got
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Run("referrers", func(t *testing.T) {
		got := awaitReferrers(t, func(got []v1.Descriptor) bool { return len(got) == 1 })
		if len(got) != 1 || got[0].Digest != sbom || got[0].ArtifactType != "application/spdx+json" {
			t.Fatalf("referrers through the cache: %+v, want the upstream's SBOM %v", got, sbom)
		}
		if got := listReferrers(t, "?artifactType=application/vnd.example.sig"); len(got) != 0 {
			t.Errorf("filtered by another type: %+v, want none", got)
		}
		if d := send(t, "GET", cache.URL+"/v2/lab/app/manifests/"+sbom.String(), map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"}, nil); d.status != http.StatusOK {
			t.Errorf("the SBOM's manifest through the cache: %d %q", d.status, d.body)
		}
		// A referrer removed at the upstream leaves the cache's list.
		_, sig, err := putManifest(ctx, http.DefaultClient, upApp, artifact("application/vnd.example.sig", *appDesc, nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := awaitReferrers(t, func(got []v1.Descriptor) bool { return len(got) == 2 }); len(got) != 2 {
			t.Fatalf("after a second attach at the upstream: %+v, want 2", got)
		}
		if a := send(t, "DELETE", up.URL+"/v2/lab/app/manifests/"+sig.String(), nil, nil); a.status != http.StatusAccepted {
			t.Fatalf("delete at the upstream: %d %q", a.status, a.body)
		}
		if got := awaitReferrers(t, func(got []v1.Descriptor) bool { return len(got) == 1 }); len(got) != 1 || got[0].Digest != sbom {
			t.Fatalf("after the delete at the upstream: %+v, want the SBOM alone", got)
		}
	})

	t.Run("catalog", func(t *testing.T) {
		a := send(t, "GET", cache.URL+"/v2/_catalog", nil, nil)
		if a.status != http.StatusOK || !strings.Contains(a.body, `"lab/app"`) || !strings.Contains(a.body, `"lab/multi"`) || strings.Contains(a.body, "lab/pushed") {
			t.Errorf("catalog of the cache: %d %q, want the pulled repositories", a.status, a.body)
		}
	})

	up.Stop(t)
	t.Run("upstream stopped", func(t *testing.T) {
		if got := pullAll(t, ctx, app.Digest(want.String())); got != want {
			t.Fatalf("by digest: %v, want %v", got, want)
		}
		getSHA512(t)
		// The list last seen at the upstream.
		if got := listReferrers(t, ""); len(got) != 1 || got[0].Digest != sbom {
			t.Errorf("referrers with the upstream down: %+v, want the SBOM", got)
		}
		// distribution asks the upstream for the tag and, when it cannot,
		// answers from the tag it stored when it last pulled it.
		if got := pullAll(t, ctx, app.Tag("v1")); got != want {
			t.Fatalf("by tag: %v, want %v", got, want)
		}
		a := send(t, "GET", cache.URL+"/v2/lab/app/manifests/never-pulled", map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"}, nil)
		if a.status != http.StatusNotFound || a.code() != "MANIFEST_UNKNOWN" {
			t.Errorf("uncached tag with the upstream down: %d %q, want 404 MANIFEST_UNKNOWN", a.status, a.body)
		}
	})
}

// TestPullThroughCacheExpiry: content is removed proxy.ttl after it was
// fetched; with the upstream gone it can then no longer be pulled.
func TestPullThroughCacheExpiry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := stackrun.Start(t, nil, "--auth", "none")
	img, _ := random.Image(64<<10, 2)
	if err := remote.Write(cacheRepo(t, up.Addr, "lab/app").Tag("v1"), img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	cache := stackrun.Start(t, []string{"REGISTRY_STACK_PROXY_TTL=2s"}, "--auth", "none", "--proxy-remote-url", up.URL)
	app := cacheRepo(t, cache.Addr, "lab/app")
	pullAll(t, ctx, app.Tag("v1"))
	up.Stop(t)
	// Expiry deletes the fetched blobs and unlinks the manifest; the
	// manifest's own bytes stay until garbage-collect.
	blobs := imageBlobs(t, img)
	gone := func(b v1.Hash) bool {
		_, err := os.Stat(blobFile(cache.DataDir, b))
		return errors.Is(err, os.ErrNotExist)
	}
	waitFor(t, 30*time.Second, "expiry of the config and layers 2s after they were fetched", func() bool {
		for _, b := range blobs[1:] {
			if !gone(b) {
				return false
			}
		}
		return true
	})
	a := send(t, "GET", cache.URL+"/v2/lab/app/manifests/"+blobs[0].String(), nil, nil)
	if a.status != http.StatusServiceUnavailable || a.code() != "UNAVAILABLE" || !strings.Contains(a.body, "cannot reach its upstream") {
		t.Errorf("expired manifest by digest with the upstream down: %d %q, want 503 UNAVAILABLE", a.status, a.body)
	}
	if _, err := remote.Image(app.Tag("v1"), remote.WithContext(ctx)); err == nil {
		t.Error("pulled an expired image by tag with the upstream down")
	}
	cache.Stop(t)
	runGC(t, cache.DataDir)
	if !gone(blobs[0]) {
		t.Errorf("the expired manifest's bytes %v survived garbage-collect", blobs[0])
	}
}

// TestPullThroughCacheKeycloak: the upstream is in keycloak mode and the
// cache pulls with its own account there; the cache's users pull
// anonymously (mode none) or log in to the cache (keycloak mode, the same
// realm here) as with any registry.
func TestPullThroughCacheKeycloak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	realm, up := keycloakStack(t, "proxyup")
	img, _ := random.Image(128<<10, 2)
	if err := remote.Write(cacheRepo(t, up.Addr, "lab/app").Tag("v1"), img, remote.WithContext(ctx), basic(realm)); err != nil {
		t.Fatalf("push to upstream: %v", err)
	}
	want, _ := img.Digest()
	creds := []string{"REGISTRY_STACK_PROXY_USERNAME=" + realm.User, "REGISTRY_STACK_PROXY_PASSWORD=" + realm.Password}

	t.Run("cache in mode none", func(t *testing.T) {
		cache := stackrun.Start(t, creds, "--auth", "none", "--proxy-remote-url", up.URL)
		if got := pullAll(t, ctx, cacheRepo(t, cache.Addr, "lab/app").Tag("v1")); got != want {
			t.Fatalf("digest through the cache %v, upstream's %v", got, want)
		}
		// The referrers listing logs in at the upstream with the same
		// account as distribution's pulls.
		if a := send(t, "GET", cache.URL+"/v2/lab/app/referrers/"+want.String(), nil, nil); a.status != http.StatusOK {
			t.Errorf("referrers through the cache: %d %q", a.status, a.body)
		}
		if strings.Contains(cache.Logs(), "upstream referrers not listed") {
			t.Errorf("the cache could not list referrers at its keycloak-mode upstream:\n%s", cache.Logs())
		}
		if strings.Contains(cache.Logs(), realm.Password) {
			t.Error("the cache's logs contain its upstream password")
		}
	})

	t.Run("cache without upstream credentials", func(t *testing.T) {
		cache := stackrun.Start(t, nil, "--auth", "none", "--proxy-remote-url", up.URL)
		if a := send(t, "GET", cache.URL+"/v2/lab/app/referrers/"+want.String(), nil, nil); a.status != http.StatusOK || !strings.Contains(cache.Logs(), "upstream referrers not listed") {
			t.Errorf("referrers through a cache the upstream refuses: %d %q, want 200 (the cache's own index) and a warning", a.status, a.body)
		}
		a := send(t, "GET", cache.URL+"/v2/lab/app/manifests/"+want.String(), nil, nil)
		if a.status != http.StatusBadGateway || !strings.Contains(a.body, "refused the cache's login") {
			t.Fatalf("pull through a cache the upstream refuses: %d %q, want 502 naming the cache's login", a.status, a.body)
		}
	})

	t.Run("cache in keycloak mode", func(t *testing.T) {
		cache := stackrun.Start(t, creds, append(realm.StackArgs(), "--proxy-remote-url", up.URL)...)
		ref := cacheRepo(t, cache.Addr, "lab/app").Tag("v1")
		if _, err := remote.Image(ref, remote.WithContext(ctx)); err == nil {
			t.Fatal("anonymous pull from a keycloak-mode cache succeeded")
		}
		if got := pullAll(t, ctx, ref, basic(realm)); got != want {
			t.Fatalf("digest through the cache %v, upstream's %v", got, want)
		}
		other, _ := random.Image(1024, 1)
		err := remote.Write(cacheRepo(t, cache.Addr, "lab/pushed").Tag("v1"), other, remote.WithContext(ctx), basic(realm))
		var te *transport.Error
		if !errors.As(err, &te) || te.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("push by a user of the cache: %v, want 405", err)
		}
	})
}

// TestPullThroughCacheConfig: bad proxy settings are configuration errors
// naming the key; the upstream password is redacted; a cache whose
// upstream does not answer at start says so and exits.
func TestPullThroughCacheConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"not a URL", nil, []string{"--proxy-remote-url", "registry.example.com"}, "proxy.remote_url"},
		{"a path", nil, []string{"--proxy-remote-url", "https://registry.example.com/v2/"}, "proxy.remote_url"},
		{"username without password", []string{"REGISTRY_STACK_PROXY_USERNAME=cache"}, []string{"--proxy-remote-url", "https://registry.example.com"}, "proxy.password: required with proxy.username"},
		{"negative ttl", []string{"REGISTRY_STACK_PROXY_TTL=-1s"}, []string{"--proxy-remote-url", "https://registry.example.com"}, "proxy.ttl"},
		{"credentials without upstream", []string{"REGISTRY_STACK_PROXY_USERNAME=cache", "REGISTRY_STACK_PROXY_PASSWORD=pw"}, nil, "proxy.username"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := stackrun.RunCLI(t, c.env, append([]string{"check-config"}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("check-config: exit %d, stderr %q; want 2 and one line naming %s", code, stderr, c.want)
			}
		})
	}

	t.Run("password redacted", func(t *testing.T) {
		const pw = "upstream-pass-1234"
		code, stdout, stderr := stackrun.RunCLI(t, []string{"REGISTRY_STACK_PROXY_USERNAME=cache", "REGISTRY_STACK_PROXY_PASSWORD=" + pw},
			"check-config", "--proxy-remote-url", "https://registry.example.com")
		if code != 0 || strings.Contains(stdout+stderr, pw) || !strings.Contains(stdout, "remote_url: https://registry.example.com") || !strings.Contains(stdout, "password: <redacted>") {
			t.Fatalf("check-config: exit %d\n%s%s", code, stdout, stderr)
		}
	})

	t.Run("upstream down at start", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		code, _, stderr := stackrun.RunCLI(t, nil, "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--proxy-remote-url", dead)
		if code != 1 || !strings.Contains(stderr, "proxy.remote_url: upstream "+dead+" does not answer") {
			t.Fatalf("serve: exit %d, stderr %q", code, stderr)
		}
	})
}
