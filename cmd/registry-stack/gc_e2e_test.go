package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// TestGarbageCollect: deleting an image only unlinks it; garbage-collect
// frees its blobs, keeps what is still referenced, and refuses to run while
// a server uses the data dir.
func TestGarbageCollect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := stackrun.Start(t, nil)
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	keep := clientscenarios.PushPullImage(t, ctx, reg.Repo("gc", "app").Tag("keep"))
	clientscenarios.PushPullImage(t, ctx, reg.Repo("gc", "app").Tag("drop"))
	clientscenarios.DeleteByDigest(t, ctx, reg.Repo("gc", "app").Tag("drop"))

	code, _, stderr := stackrun.RunCLI(t, nil, "garbage-collect", "--data-dir", st.DataDir)
	if code != 1 || !strings.Contains(stderr, "server is running on this data dir") {
		t.Errorf("garbage-collect while serving: exit %d, stderr %q; want 1 and a refusal", code, stderr)
	}

	st.Stop(t)
	code, out, stderr := stackrun.RunCLI(t, nil, "garbage-collect", "--data-dir", st.DataDir, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run: nothing removed") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = stackrun.RunCLI(t, nil, "garbage-collect", "--data-dir", st.DataDir)
	if code != 0 {
		t.Fatalf("garbage-collect: exit %d\n%s%s", code, out, stderr)
	}
	m := regexp.MustCompile(`removed (\d+) blobs`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in output:\n%s", out)
	}
	// The dropped image had its own config and layers (random content).
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("removed %s blobs, want the dropped image's config and layers:\n%s", m[1], out)
	}
	t.Logf("garbage-collect:\n%s", out)

	// What is still tagged is intact after a restart on the same data.
	st2 := stackrun.Start(t, nil, "--data-dir", st.DataDir)
	reg2, _ := name.NewRegistry(st2.Addr, name.Insecure)
	img, err := remote.Image(reg2.Repo("gc", "app").Tag("keep"), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := keep.Digest()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer of the kept image after GC: %v", err)
		}
		rc.Close()
	}
	if got, _ := img.Digest(); got != want {
		t.Errorf("kept image digest %s, want %s", got, want)
	}
}

// TestGarbageCollectReferrers: after an image is deleted, garbage-collect
// removes its signature and the signature's index entry (no dangling
// referrer), while with --delete-untagged the untagged signature of a
// tagged image survives and is still listed.
func TestGarbageCollectReferrers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := stackrun.Start(t, nil)
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	repo := reg.Repo("gc", "signed")
	l := clientLogin{namespace: "gc"}
	c := registryClient(t, ctx, repo, l)
	if err := remote.WriteLayer(repo, static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json"), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	sign := func(img v1.Image) v1.Hash {
		t.Helper()
		desc, err := partialDescriptor(img)
		if err != nil {
			t.Fatal(err)
		}
		_, sig, err := putManifest(ctx, c, repo, artifact("application/vnd.example.signature", desc, nil))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	live := clientscenarios.PushPullImage(t, ctx, repo.Tag("live"))
	liveSig := sign(live)
	dropped := clientscenarios.PushPullImage(t, ctx, repo.Tag("dropped"))
	droppedSig := sign(dropped)
	clientscenarios.DeleteByDigest(t, ctx, repo.Tag("dropped"))
	st.Stop(t)

	code, out, stderr := stackrun.RunCLI(t, nil, "garbage-collect", "--data-dir", st.DataDir, "--delete-untagged", "--verbose")
	if code != 0 {
		t.Fatalf("garbage-collect: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "manifests: removed 1 (1 of them referrers of manifests that are gone)") || !strings.Contains(out, droppedSig.String()) {
		t.Errorf("garbage-collect output lacks the dropped image's signature:\n%s", out)
	}
	droppedDigest, _ := dropped.Digest()
	index := filepath.Join(st.DataDir, "registry/docker/registry/v2/repositories/gc/signed/_referrers", droppedDigest.Algorithm, droppedDigest.Hex)
	if _, err := os.Stat(index); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted image's referrers list %s is still there (%v)", index, err)
	}

	st2 := stackrun.Start(t, nil, "--data-dir", st.DataDir)
	reg2, _ := name.NewRegistry(st2.Addr, name.Insecure)
	repo2 := reg2.Repo("gc", "signed")
	liveDigest, _ := live.Digest()
	idx, err := remote.Referrers(repo2.Digest(liveDigest.String()), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if im, err := idx.IndexManifest(); err != nil || len(im.Manifests) != 1 || im.Manifests[0].Digest != liveSig {
		t.Errorf("referrers of the live image after GC: %+v (%v), want its signature", im, err)
	}
	if _, err := remote.Get(repo2.Digest(liveSig.String()), remote.WithContext(ctx)); err != nil {
		t.Errorf("the live image's signature after --delete-untagged: %v", err)
	}
	if _, err := remote.Get(repo2.Digest(droppedSig.String()), remote.WithContext(ctx)); err == nil {
		t.Errorf("the deleted image's signature survived garbage collection")
	}
	idx, err = remote.Referrers(repo2.Digest(droppedDigest.String()), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if im, _ := idx.IndexManifest(); im == nil || len(im.Manifests) != 0 {
		t.Errorf("referrers of the deleted image after GC: %+v", im)
	}
}
