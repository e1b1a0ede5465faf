package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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
