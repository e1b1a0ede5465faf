package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// TestSHA512AndNonDistributable: in every auth mode, go-containerregistry
// pushes and pulls an image named by sha512 digests throughout, and pushes
// and pulls an image with a non-distributable layer.
func TestSHA512AndNonDistributable(t *testing.T) {
	inEachAuthMode(t, "", func(t *testing.T, ctx context.Context, st *stackrun.Stack, l clientLogin) {
		var auth authn.Authenticator = authn.Anonymous
		if l.user != "" {
			auth = &authn.Basic{Username: l.user, Password: l.password}
		}
		reg, _ := name.NewRegistry(st.Addr, name.Insecure)
		clientscenarios.PushPullSHA512(t, ctx, reg.Repo(l.namespace, "sha512"), auth)
		clientscenarios.PushPullNonDistributable(t, ctx, reg.Repo(l.namespace, "foreign").Tag("v1"), remote.WithAuth(auth))
	})
}

// TestGarbageCollectSHA512: garbage-collect keeps what a live image names
// by sha512 and removes what nothing refers to any more, sha512 digests
// included.
func TestGarbageCollectSHA512(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := stackrun.Start(t, nil)
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	keepRepo, dropRepo := reg.Repo("gc", "keep"), reg.Repo("gc", "drop")
	keep := clientscenarios.PushPullSHA512(t, ctx, keepRepo, authn.Anonymous)
	orphan := clientscenarios.PushSHA512Blob(t, ctx, keepRepo, []byte("pushed by sha512, never referenced "+time.Now().String()))
	drop := clientscenarios.PushPullSHA512(t, ctx, dropRepo, authn.Anonymous)
	// A signature that names the kept image by its sha512 digest: the
	// collection must know its subject is live.
	kept, err := remote.Get(keepRepo.Digest(keep.Manifest.String()), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(keepRepo, static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json"), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	client := registryClient(t, ctx, keepRepo, clientLogin{})
	if _, _, err := putManifest(ctx, client, keepRepo, artifact("application/vnd.example.signature", kept.Descriptor, nil)); err != nil {
		t.Fatalf("signature of the sha512 image: %v", err)
	}
	if err := remote.Delete(dropRepo.Digest(drop.Manifest.String()), remote.WithContext(ctx)); err != nil {
		t.Fatalf("delete by sha512: %v", err)
	}
	if _, err := remote.Head(dropRepo.Digest(drop.Manifest.String()), remote.WithContext(ctx)); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("deleted manifest: %v, want 404", err)
	}
	st.Stop(t)

	code, out, stderr := stackrun.RunCLI(t, nil, "garbage-collect", "--data-dir", st.DataDir)
	if code != 0 {
		t.Fatalf("garbage-collect: exit %d\n%s%s", code, out, stderr)
	}
	t.Logf("garbage-collect:\n%s", out)
	// The orphan, and the dropped manifest, its config and two layers (one
	// also mounted into gc/drop-mounted: no manifest refers to it).
	if m := regexp.MustCompile(`removed (\d+) blobs`).FindStringSubmatch(out); m == nil || m[1] != "5" {
		t.Errorf("want 5 blobs removed (orphan, dropped manifest, config, layers):\n%s", out)
	}
	// Their sha512 digests: the orphan's, the config's and the layers' in
	// gc/drop (the manifest's went with its delete). gc/drop-mounted keeps
	// its links: distribution's collection visits only repositories with
	// manifests.
	if !strings.Contains(out, "removed 4 sha512 digests") {
		t.Errorf("want the 4 sha512 digests of removed blobs removed:\n%s", out)
	}

	st2 := stackrun.Start(t, nil, "--data-dir", st.DataDir)
	reg2, _ := name.NewRegistry(st2.Addr, name.Insecure)
	opts := []remote.Option{remote.WithContext(ctx)}
	if desc, err := remote.Get(reg2.Repo("gc", "keep").Digest(keep.Manifest.String()), opts...); err != nil || desc.Digest != keep.Manifest {
		t.Fatalf("kept image by sha512 after garbage-collect: %v", err)
	}
	for _, d := range keep.Blobs {
		l, err := remote.Layer(reg2.Repo("gc", "keep").Digest(d.String()), opts...)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err == nil {
			_, err = io.Copy(io.Discard, rc) // verified against d at EOF
			rc.Close()
		}
		if err != nil {
			t.Errorf("kept blob %v: %v", d, err)
		}
	}
	sigs, _, _ := listAll(t, ctx, registryClient(t, ctx, reg2.Repo("gc", "keep"), clientLogin{}), reg2.Repo("gc", "keep"), keep.Manifest, "")
	if len(sigs) != 1 {
		t.Errorf("referrers of the kept sha512 image after garbage-collect: %d, want its signature", len(sigs))
	} else if _, err := remote.Get(reg2.Repo("gc", "keep").Digest(sigs[0].Digest.String()), opts...); err != nil {
		t.Errorf("signature of the kept sha512 image after garbage-collect: %v", err)
	}
	rt, err := transport.NewWithContext(ctx, reg2, authn.Anonymous, http.DefaultTransport, []string{reg2.Repo("gc", "keep").Scope(transport.PullScope)})
	if err != nil {
		t.Fatal(err)
	}
	for repo, d := range map[string]string{"gc/keep": orphan.String(), "gc/drop": drop.Blobs[0].String()} {
		req, _ := http.NewRequestWithContext(ctx, "HEAD", "http://"+st2.Addr+"/v2/"+repo+"/blobs/"+d, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("collected blob %s of %s: %d, want 404", d, repo, resp.StatusCode)
		}
	}
}

func isStatus(err error, code int) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == code
}
