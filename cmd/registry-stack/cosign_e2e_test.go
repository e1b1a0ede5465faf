package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
)

// cosignSigType is the artifactType cosign gives a signature it stores as
// an OCI 1.1 referrer.
const cosignSigType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// egressRecorder stands in for every route off the machine: cosign runs
// with it as its HTTP(S) proxy and TUF mirror, so any attempt to reach a
// transparency log, Fulcio or a TUF repository lands here and is
// recorded, never sent. Go clients never proxy loopback, so the registry
// is reached directly.
type egressRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newEgressRecorder(t *testing.T) *egressRecorder {
	e := &egressRecorder{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = append(e.seen, r.Method+" "+r.Host+r.URL.Path)
		e.mu.Unlock()
		http.Error(w, "offline test: no route off the machine", http.StatusBadGateway)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *egressRecorder) requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seen)
}

// cosignCLI runs cosign in a scratch home (keys, registry login, TUF
// cache), offline.
type cosignCLI struct {
	t   *testing.T
	ctx context.Context
	dir string
	env []string
}

func newCosign(t *testing.T, ctx context.Context, egress *egressRecorder) cosignCLI {
	dir := t.TempDir()
	env := append(os.Environ(),
		"HOME="+dir,
		"DOCKER_CONFIG="+dir+"/.docker",
		"TUF_ROOT="+dir+"/.sigstore/root",
		"TUF_MIRROR="+egress.URL,
		"HTTP_PROXY="+egress.URL, "HTTPS_PROXY="+egress.URL, "http_proxy="+egress.URL, "https_proxy="+egress.URL,
		"NO_PROXY=", "no_proxy=",
		// The OCI 1.1 referrers mode is experimental in cosign v2.
		"COSIGN_EXPERIMENTAL=1",
		"COSIGN_PASSWORD=test-key-password",
	)
	return cosignCLI{t, ctx, dir, env}
}

// run runs cosign with args (stdin, when not empty, on its standard
// input) and returns its standard output and error.
func (c cosignCLI) run(stdin string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(c.ctx, "cosign", args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// must runs cosign and fails the test when it fails.
func (c cosignCLI) must(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("cosign %s: %v\n%s%s", args[0], err, out, errOut)
	}
	return out
}

// TestCosign: cosign signs an image with a key pair and stores the
// signature as an OCI 1.1 referrer (no sha256-….sig tag), verifies it,
// lists it with `cosign tree`, and rejects another key, in every auth
// mode; offline: nothing but the registry on loopback is contacted.
func TestCosign(t *testing.T) {
	inEachAuthMode(t, "cosign", func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin) {
		egress := newEgressRecorder(t)
		c := newCosign(t, ctx, egress)
		if l.user != "" {
			c.must(l.password, "login", st.Addr, "-u", l.user, "--password-stdin")
		}

		reg, _ := name.NewRegistry(st.Addr, name.Insecure)
		repo := reg.Repo(l.namespace, "cosigned")
		opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(l.auth())}
		img := clientscenarios.PushPullImage(t, ctx, repo.Tag("v1"), opts...)
		digest, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ref := repo.Digest(digest.String()).String()

		c.must("", "generate-key-pair")
		c.must("", "generate-key-pair", "--output-key-prefix", "other")

		start := time.Now()
		c.must("", "sign", "--key", "cosign.key", "--tlog-upload=false", "--yes",
			"--registry-referrers-mode=oci-1-1", "--allow-http-registry", "-a", "purpose=offline-test", ref)
		testartifacts.Figure(t, "cosign sign", time.Since(start).Round(time.Millisecond).String())

		// The signature is a referrer of the image, and no fallback tag appeared.
		descs, _, _ := listAll(t, ctx, registryClient(t, ctx, repo, l), repo, digest, "")
		if len(descs) != 1 || descs[0].ArtifactType != cosignSigType {
			t.Fatalf("referrers of %s: %+v, want one %s", digest, descs, cosignSigType)
		}
		if tags, err := remote.List(repo, opts...); err != nil || !slices.Equal(tags, []string{"v1"}) {
			t.Errorf("tags %v (%v), want only v1 (no sha256-….sig tag)", tags, err)
		}

		verify := []string{"verify", "--insecure-ignore-tlog", "--experimental-oci11", "--allow-http-registry", ref}
		start = time.Now()
		out := c.must("", append([]string{verify[0], "--key", "cosign.pub"}, verify[1:]...)...)
		testartifacts.Figure(t, "cosign verify", time.Since(start).Round(time.Millisecond).String())
		var claims []struct {
			Critical struct {
				Image struct {
					Digest string `json:"docker-manifest-digest"`
				} `json:"image"`
			} `json:"critical"`
			Optional map[string]any `json:"optional"`
		}
		if err := json.Unmarshal([]byte(out), &claims); err != nil {
			t.Fatalf("cosign verify output: %v\n%s", err, out)
		}
		if len(claims) != 1 || claims[0].Critical.Image.Digest != digest.String() || claims[0].Optional["purpose"] != "offline-test" {
			t.Errorf("cosign verify claims: %s", out)
		}

		// cosign v2 says "no signatures found" here: when the referrer does
		// not verify it falls back to the sha256-….sig tag, which is absent.
		if out, errOut, err := c.run("", append([]string{verify[0], "--key", "other.pub"}, verify[1:]...)...); err == nil || strings.TrimSpace(out) != "" {
			t.Errorf("cosign verify with another key: %v, want a failure and no claims:\n%s%s", err, out, errOut)
		}

		tree := c.must("", "tree", "--experimental-oci11", "--allow-http-registry", ref)
		if !strings.Contains(tree, cosignSigType) || !strings.Contains(tree, descs[0].Digest.String()) {
			t.Errorf("cosign tree does not list the signature %s:\n%s", descs[0].Digest, tree)
		}

		if seen := egress.requests(); len(seen) != 0 {
			t.Errorf("cosign tried to leave the machine: %v", seen)
		}
	})
}
