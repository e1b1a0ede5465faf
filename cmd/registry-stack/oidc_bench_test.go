package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/dockertoken"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
)

// The figures of oidc mode, against the real Keycloak:
//
//	go test -run '^$' -bench 'OIDC' -benchtime 200x ./cmd/registry-stack/
//
// Each reports its figure as a metric and as a FIGURE line.

// benchTokens times b.N token requests and reports p50 and p99.
func benchTokens(b *testing.B, st *stackrun.Stack, user, password, figure string) {
	b.Helper()
	ctx := context.Background()
	req := dockertoken.Request{Service: "registry-stack", Scope: "repository:team-a/app:pull,push", User: user, Password: password}
	if _, err := dockertoken.Fetch(ctx, nil, st.URL+"/auth/token", req); err != nil {
		b.Fatal(err) // also warms the cache where there is one
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := dockertoken.Fetch(ctx, nil, st.URL+"/auth/token", req); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	b.StopTimer()
	p50, p99 := percentile(d, 50), percentile(d, 99)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	testartifacts.Figure(b, figure, fmt.Sprintf("p50 %.2f ms, p99 %.2f ms over %d requests", ms(p50), ms(p99), len(d)))
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func BenchmarkOIDCTokenKeycloakRoundTrip(b *testing.B) {
	s := newOIDCSetup(b, "rs-bench-token")
	st := s.start(b, []string{"REGISTRY_STACK_OIDC_CACHE_TTL=0s"})
	benchTokens(b, st, "alice", "alice-password", "oidc_token_keycloak_round_trip")
}

func BenchmarkOIDCTokenCached(b *testing.B) {
	s := newOIDCSetup(b, "rs-bench-cached")
	st := s.start(b, nil)
	benchTokens(b, st, "alice", "alice-password", "oidc_token_cached")
}

func BenchmarkOIDCTokenAnonymous(b *testing.B) {
	s := newOIDCSetup(b, "rs-bench-anon")
	st := s.start(b, nil)
	benchTokens(b, st, "", "", "oidc_token_anonymous")
}

// benchManifestGET measures authenticated manifest GETs per second with 16
// concurrent clients, each presenting one token as docker does.
func benchManifestGET(b *testing.B, st *stackrun.Stack, token, figure string) {
	b.Helper()
	url := st.URL + "/v2/team-a/app/manifests/v1"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func() error {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	rps := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rps, "req/s")
	testartifacts.Figure(b, figure, fmt.Sprintf("%.0f req/s (%d requests, 16 clients)", rps, b.N))
}

func pushBenchImage(b *testing.B, st *stackrun.Stack, opts ...remote.Option) {
	b.Helper()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	img, _ := random.Image(1024, 2)
	if err := remote.Write(reg.Repo("team-a/app").Tag("v1"), img, opts...); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkManifestGETNone(b *testing.B) {
	st := stackrun.Start(b, nil)
	pushBenchImage(b, st)
	benchManifestGET(b, st, "", "manifest_get_auth_none")
}

func BenchmarkManifestGETOIDC(b *testing.B) {
	s := newOIDCSetup(b, "rs-bench-get")
	st := s.start(b, nil)
	pushBenchImage(b, st, login("alice", "alice-password"))
	tok, err := dockertoken.Fetch(context.Background(), nil, st.URL+"/auth/token", dockertoken.Request{Service: "registry-stack", Scope: "repository:team-a/app:pull", User: "alice", Password: "alice-password"})
	if err != nil {
		b.Fatal(err)
	}
	benchManifestGET(b, st, tok, "manifest_get_auth_oidc")
}

func BenchmarkManifestGETKeycloak(b *testing.B) {
	kc := keycloaktest.Require(b)
	realm := keycloaktest.NewRealm(b, kc, "rs-bench-kc")
	st := stackrun.Start(b, nil, realm.StackArgs()...)
	pushBenchImage(b, st, login(realm.User, realm.Password))
	benchManifestGET(b, st, realm.StackToken(b, st.URL, "repository:team-a/app:pull"), "manifest_get_auth_keycloak")
}

// BenchmarkOIDCCatalog50k: the first catalog page for a user who may see 10
// of 50,000 repositories. The repositories are laid out on disk directly
// (the catalog lists what storage holds), not pushed one by one.
func BenchmarkOIDCCatalog50k(b *testing.B) {
	s := newOIDCSetup(b, "rs-bench-catalog")
	dataDir := b.TempDir()
	root := filepath.Join(dataDir, "registry", "docker", "registry", "v2", "repositories")
	for i := range 50000 {
		dir := filepath.Join(root, "bulk", fmt.Sprintf("r%05d", i), "_manifests")
		if i < 10 {
			dir = filepath.Join(root, "team-a", fmt.Sprintf("r%05d", i), "_manifests")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	st := s.start(b, nil, "--data-dir", dataDir)
	ctx := context.Background()
	tok, err := dockertoken.Fetch(ctx, nil, st.URL+"/auth/token", dockertoken.Request{Service: "registry-stack", Scope: "registry:catalog:*", User: "alice", Password: "alice-password"})
	if err != nil {
		b.Fatal(err)
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodGet, st.URL+"/v2/_catalog?n=100", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var body struct{ Repositories []string }
		err = jsonDecode(resp, &body)
		if err != nil || len(body.Repositories) != 10 {
			b.Fatalf("catalog: %v, %d repositories, want 10", err, len(body.Repositories))
		}
		d = append(d, time.Since(start))
	}
	b.StopTimer()
	p50, p99 := percentile(d, 50), percentile(d, 99)
	b.ReportMetric(ms(p50), "p50-ms")
	testartifacts.Figure(b, "oidc_catalog_10_of_50000", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms over %d requests", ms(p50), ms(p99), len(d)))
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
