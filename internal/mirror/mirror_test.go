package mirror

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/endpoint"
	"github.com/registry-stack/registry-stack/internal/progress"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// registryMirror mirrors from the registry at up into the one at down,
// logging into the returned buffer (read it once Run has returned).
func registryMirror(t *testing.T, ctx context.Context, up, down string) (*Mirror, *Registry, *bytes.Buffer) {
	t.Helper()
	ep := endpoint.Endpoint{Insecure: true}
	opts := ep.RemoteOptions(ctx, nil)
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		t.Fatal(err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	display := progress.NewDisplay(&log, false, nil)
	reg := &Registry{Endpoint: ep, Host: down, Pusher: pusher, Puller: puller, Source: puller, Display: display}
	return &Mirror{Source: ep, Puller: puller, Dest: reg, Display: display}, reg, &log
}

func mustParse(t *testing.T, yaml string) *List {
	t.Helper()
	l, err := ParseList(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func pushImage(t *testing.T, ctx context.Context, ref name.Reference) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	return img
}

// attach pushes a new artifact whose subject is the manifest d of repo.
func attach(t *testing.T, ctx context.Context, repo name.Repository, d v1.Descriptor, note string) v1.Hash {
	t.Helper()
	a := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.example.note")
	a = mutate.Annotations(a, map[string]string{"note": note}).(v1.Image)
	a = mutate.Subject(a, d).(v1.Image)
	h, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(h.String()), a, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	return h
}

func descriptorOf(t *testing.T, m interface {
	Digest() (v1.Hash, error)
	MediaType() (types.MediaType, error)
	Size() (int64, error)
}) v1.Descriptor {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := m.MediaType()
	size, _ := m.Size()
	return v1.Descriptor{Digest: d, MediaType: mt, Size: size}
}

// TestRegistryNestedIndexReferrers mirrors an index of an index of an
// image whose referrer is on the innermost image: it is found only by
// reading the inner index.
func TestRegistryNestedIndexReferrers(t *testing.T) {
	st := stackrun.Start(t, nil) // first: it may build the binary
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	up := reg.Repo("team", "nested")

	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	inner := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: img})
	outer := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: inner})
	if err := remote.WriteIndex(up.Tag("1.0"), outer, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	imgDesc, innerDesc := descriptorOf(t, img), descriptorOf(t, inner)
	onImage := attach(t, ctx, up, imgDesc, "on the image")
	onInner := attach(t, ctx, up, innerDesc, "on the inner index")

	m, _, log := registryMirror(t, ctx, st.Addr, st.Addr)
	res := m.Run(ctx, mustParse(t, "repositories:\n- repository: "+st.Addr+"/team/nested\n  tags: [\"1.0\"]\n  to: lab/nested\n"))
	if res != (Result{Copied: 1}) {
		t.Fatalf("Run = %+v, want 1 copied\n%s", res, log)
	}
	down := reg.Repo("lab", "nested")
	for _, c := range []struct {
		subject v1.Hash
		want    v1.Hash
	}{{imgDesc.Digest, onImage}, {innerDesc.Digest, onInner}} {
		if got := clientscenarios.ReferrerDigests(t, ctx, down.Digest(c.subject.String())); !slices.Equal(got, []v1.Hash{c.want}) {
			t.Errorf("referrers of %s at the destination: %v, want [%v]\n%s", c.subject, got, c.want, log)
		}
	}
}

// referrersFailingProxy stands in for an upstream whose referrers API
// denies access, which a real registry does not do on demand.
func referrersFailingProxy(t *testing.T, target string) string {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"referrers are not for you"}]}`)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestRegistryReferrersListingFails counts a tag whose referrers cannot
// be listed as failed, naming the subject, rather than as mirrored.
func TestRegistryReferrersListingFails(t *testing.T) {
	st := stackrun.Start(t, nil) // first: it may build the binary
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	img := pushImage(t, ctx, reg.Repo("team", "app").Tag("1.0"))
	d, _ := img.Digest()
	up := referrersFailingProxy(t, st.Addr)

	m, _, log := registryMirror(t, ctx, up, st.Addr)
	l := mustParse(t, "repositories:\n- repository: "+up+"/team/app\n  tags: [\"1.0\"]\n  to: lab/app\n")
	for _, run := range []string{"first run (copy)", "second run (unchanged)"} {
		log.Reset()
		if res := m.Run(ctx, l); res != (Result{Failed: 1}) {
			t.Errorf("%s: Run = %+v, want 1 failed\n%s", run, res, log)
		}
		if want := "list referrers of " + up + "/team/app@" + d.String(); !strings.Contains(log.String(), want) || !strings.Contains(log.String(), "DENIED") {
			t.Errorf("%s: log does not say %q (DENIED):\n%s", run, want, log)
		}
	}
}

// TestRunCaps fails a repository listing more tags than MaxTags and a
// subject with more referrers than MaxReferrers.
func TestRunCaps(t *testing.T) {
	st := stackrun.Start(t, nil) // first: it may build the binary
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	up := reg.Repo("team", "app")
	for _, tag := range []string{"1", "2", "3"} {
		pushImage(t, ctx, up.Tag(tag))
	}
	signed := pushImage(t, ctx, reg.Repo("team", "signed").Tag("1.0"))
	for i := range 3 {
		attach(t, ctx, reg.Repo("team", "signed"), descriptorOf(t, signed), strconv.Itoa(i))
	}

	t.Run("tags", func(t *testing.T) {
		m, _, log := registryMirror(t, ctx, st.Addr, st.Addr)
		m.MaxTags = 2
		res := m.Run(ctx, mustParse(t, "repositories:\n- repository: "+st.Addr+"/team/app\n  regex: .\n  to: lab/app\n"))
		if res != (Result{Failed: 1}) || !strings.Contains(log.String(), "list tags: more than 2 tags") {
			t.Errorf("Run = %+v, want 1 failed for more than 2 tags\n%s", res, log)
		}
		m.MaxTags = 3
		log.Reset()
		if res := m.Run(ctx, mustParse(t, "repositories:\n- repository: "+st.Addr+"/team/app\n  regex: .\n  to: lab/app\n")); res != (Result{Copied: 3}) {
			t.Errorf("with MaxTags 3: Run = %+v, want 3 copied\n%s", res, log)
		}
	})
	t.Run("referrers", func(t *testing.T) {
		m, dst, log := registryMirror(t, ctx, st.Addr, st.Addr)
		dst.MaxReferrers = 2
		l := mustParse(t, "repositories:\n- repository: "+st.Addr+"/team/signed\n  tags: [\"1.0\"]\n  to: lab/signed\n")
		if res := m.Run(ctx, l); res != (Result{Failed: 1}) || !strings.Contains(log.String(), "more than 2 referrers") {
			t.Errorf("Run = %+v, want 1 failed for more than 2 referrers\n%s", res, log)
		}
		dst.MaxReferrers = 3
		log.Reset()
		// The image was pushed before its referrers failed: unchanged now.
		if res := m.Run(ctx, l); res != (Result{Unchanged: 1}) {
			t.Errorf("with MaxReferrers 3: Run = %+v, want 1 unchanged\n%s", res, log)
		}
		d, _ := signed.Digest()
		if got := clientscenarios.ReferrerDigests(t, ctx, reg.Repo("lab", "signed").Digest(d.String())); len(got) != 3 {
			t.Errorf("referrers at the destination: %v, want 3", got)
		}
	})
}

// TestRunSkipsFallbackTags leaves out upstream tags named like referrers
// fallback indexes, which a broad regex would otherwise select.
func TestRunSkipsFallbackTags(t *testing.T) {
	st := stackrun.Start(t, nil) // first: it may build the binary
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	up := reg.Repo("team", "app")
	img := pushImage(t, ctx, up.Tag("1.0"))
	d, _ := img.Digest()
	fallback := "sha256-" + d.Hex
	for _, tag := range []string{fallback, fallback + ".sig"} {
		if err := remote.Tag(up.Tag(tag), img, remote.WithContext(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	m, _, log := registryMirror(t, ctx, st.Addr, st.Addr)
	res := m.Run(ctx, mustParse(t, "repositories:\n- repository: "+st.Addr+"/team/app\n  regex: .\n  to: lab/app\n"))
	if res != (Result{Copied: 1}) {
		t.Errorf("Run = %+v, want 1 copied\n%s", res, log)
	}
	for _, tag := range []string{fallback, fallback + ".sig"} {
		if want := "skipped " + up.String() + ":" + tag + ": a referrers fallback tag"; !strings.Contains(log.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, log)
		}
	}
	tags, err := remote.List(reg.Repo("lab", "app"), remote.WithContext(ctx))
	if err != nil || !slices.Equal(tags, []string{"1.0"}) {
		t.Errorf("tags at the destination: %v (%v), want [1.0]", tags, err)
	}
}
