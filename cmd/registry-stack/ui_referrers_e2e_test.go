package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/registry-stack/registry-stack/internal/browsertest"
	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testenv"
)

const (
	simpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	spdxType      = "application/spdx+json"
)

// signedReferrer is one referrer the fixture pushed, as the panel must show it.
type signedReferrer struct {
	digest  v1.Hash
	size    int
	label   string
	created string // as the UI writes it
}

// signedFixture is an image with an oras-style SBOM and a signature
// artifact attached through the referrers API, and a cosign fallback tag.
type signedFixture struct {
	image       v1.Hash
	sbom, sig   signedReferrer
	fallbackTag string
}

// attachedArtifact is an artifact manifest as `oras attach` writes one:
// empty config, the files as layers with their titles, artifactType,
// subject and a creation annotation.
func attachedArtifact(artifactType string, subject v1.Descriptor, file v1.Descriptor, annotations map[string]string) []byte {
	emptyDesc := map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2}
	b, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": artifactType,
		"config": emptyDesc, "layers": []any{file}, "subject": subject, "annotations": annotations,
	})
	return b
}

// pushFile uploads content as a blob of repo and describes it as a layer.
func pushFile(t *testing.T, ctx context.Context, repo name.Repository, l clientLogin, content []byte, mediaType, title string) v1.Descriptor {
	t.Helper()
	layer := static.NewLayer(content, types.MediaType(mediaType))
	if err := remote.WriteLayer(repo, layer, remote.WithContext(ctx), remote.WithAuth(l.auth())); err != nil {
		t.Fatalf("push %s: %v", title, err)
	}
	d, _ := layer.Digest()
	return v1.Descriptor{MediaType: types.MediaType(mediaType), Digest: d, Size: int64(len(content)), Annotations: map[string]string{"org.opencontainers.image.title": title}}
}

// pushSignedFixture pushes repo:v1 and what refers to it: an SPDX SBOM and
// a cosign signature through the referrers API, and a cosign fallback tag
// sha256-<hex>.sig as cosign writes it without that API.
func pushSignedFixture(t *testing.T, ctx context.Context, repo name.Repository, l clientLogin) signedFixture {
	t.Helper()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(l.auth())}
	img := richImage(t, 0)
	if err := remote.Write(repo.Tag("v1"), img, opts...); err != nil {
		t.Fatalf("push v1: %v", err)
	}
	subject, err := partialDescriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	pushFile(t, ctx, repo, l, []byte("{}"), "application/vnd.oci.empty.v1+json", "config")
	c := registryClient(t, ctx, repo, l)
	put := func(artifactType string, file v1.Descriptor, created, label string, annotations map[string]string) signedReferrer {
		t.Helper()
		annotations["org.opencontainers.image.created"] = created
		body := attachedArtifact(artifactType, subject, file, annotations)
		hdr, dgst, err := putManifest(ctx, c, repo, body)
		if err != nil {
			t.Fatal(err)
		}
		if hdr != subject.Digest.String() {
			t.Fatalf("OCI-Subject %q, want %s", hdr, subject.Digest)
		}
		ts, _ := time.Parse(time.RFC3339, created)
		return signedReferrer{digest: dgst, size: len(body), label: label, created: ts.UTC().Format("2006-01-02 15:04") + " UTC"}
	}
	spdx := []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"team/signed","packages":[{"name":"ca-certificates","versionInfo":"20240203"}]}`)
	f := signedFixture{image: subject.Digest}
	f.sbom = put(spdxType, pushFile(t, ctx, repo, l, spdx, spdxType, "sbom.spdx.json"), "2025-06-01T10:00:00Z", "SPDX SBOM", map[string]string{"org.example.generator": "syft"})
	sigPayload := []byte(fmt.Sprintf(`{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}`, repo, subject.Digest))
	sigFile := pushFile(t, ctx, repo, l, sigPayload, simpleSigning, "")
	sigFile.Annotations = map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQDtestsignature"}
	f.sig = put(cosignSigType, sigFile, "2025-06-02T11:30:00Z", "Cosign signature", map[string]string{"dev.sigstore.cosign/bundle": "offline"})

	// The fallback tag: cosign's legacy signature image, no subject.
	legacy := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	legacy, err = mutate.Append(legacy, mutate.Addendum{Layer: static.NewLayer(sigPayload, simpleSigning), Annotations: map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQDlegacy"}})
	if err != nil {
		t.Fatal(err)
	}
	f.fallbackTag = fmt.Sprintf("sha256-%s.sig", subject.Digest.Hex)
	if err := remote.Write(repo.Tag(f.fallbackTag), legacy, opts...); err != nil {
		t.Fatalf("push %s: %v", f.fallbackTag, err)
	}
	return f
}

// uiBytes is the UI's formatBytes for the sizes these tests meet.
func uiBytes(n int) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / 1000
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f kB", v)
	case v < 100:
		return fmt.Sprintf("%.1f kB", v)
	}
	return fmt.Sprintf("%.0f kB", v)
}

func shortHash(h v1.Hash) string { return h.Algorithm + ":" + h.Hex[:12] }

// browseReferrers checks the tag list's grouping of the fallback tag, the
// referrers panel of repo:v1 and a referrer's own page.
func browseReferrers(t *testing.T, tab *browsertest.Tab, baseURL, repo string, f signedFixture, shots bool) {
	t.Helper()
	tab.Do(t, "open repository", chromedp.Navigate(baseURL+"/r/"+repo), chromedp.WaitVisible(css(`table.tags a.tag`)))
	tab.WaitTrue(t, "sizes and dates", detailsShown)
	wantStrings(t, "tag rows", browsertest.Eval[[]string](t, tab, tagNames), []string{"v1"})
	tab.WaitTrue(t, "badge on v1", `!!document.querySelector('a[data-attached="v1"]')`)
	if b := browsertest.Eval[string](t, tab, `document.querySelector('a[data-attached="v1"]').textContent`); b != "1 signature" {
		t.Errorf("badge on v1 says %q, want \"1 signature\"", b)
	}
	if st := browsertest.Eval[string](t, tab, `document.getElementById('tags-status').textContent`); !strings.Contains(st, "1 signature tag grouped under its image") {
		t.Errorf("status line %q does not say the signature tag is grouped", st)
	}
	if shots {
		tab.Screenshot(t, "referrers-tags")
	}
	tab.Do(t, "show signature tags", chromedp.Click(css(`#show-signature-tags`)))
	tab.WaitTrue(t, "fallback tag row", fmt.Sprintf(`(%s).includes(%q)`, tagNames, f.fallbackTag))
	tab.Do(t, "open the fallback tag", chromedp.Click(css(fmt.Sprintf(`a.tag[href$=%q]`, ":"+f.fallbackTag))), chromedp.WaitVisible(css(`[data-fallback-of]`)))
	if of := browsertest.Eval[string](t, tab, `document.querySelector('[data-fallback-of]').dataset.fallbackOf`); of != f.image.String() {
		t.Errorf("fallback tag page names %q as its image, want %s", of, f.image)
	}
	tab.Do(t, "back to the tags", chromedp.NavigateBack(), chromedp.WaitVisible(css(`#show-signature-tags`)))
	tab.Do(t, "hide signature tags", chromedp.Click(css(`#show-signature-tags`)))
	tab.WaitTrue(t, "fallback tag row gone", fmt.Sprintf(`!(%s).includes(%q)`, tagNames, f.fallbackTag))

	tab.Do(t, "open v1", chromedp.Click(css(`a.tag[href$=":v1"]`)), chromedp.WaitVisible(css(`table.referrers`)))
	waitH1(t, tab, repo+":v1")
	rows := browsertest.Eval[[][]string](t, tab, `[...document.querySelectorAll('table.referrers tbody tr')].map(tr => [...tr.children].map(td => td.innerText.trim()))`)
	want := []signedReferrer{f.sig, f.sbom} // newest first
	if len(rows) != len(want) {
		t.Fatalf("referrers panel has %d rows, want %d: %q", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if len(r) != 5 || !strings.HasPrefix(r[0], w.label) || r[1] != shortHash(w.digest) || r[2] != uiBytes(w.size) || r[3] != w.created {
			t.Errorf("referrer row %d = %q, want %s %s %s %s", i, r, w.label, shortHash(w.digest), uiBytes(w.size), w.created)
		}
	}
	if !strings.Contains(rows[0][0], cosignSigType) || !strings.Contains(rows[1][0], spdxType) {
		t.Errorf("referrer types do not show the artifact types: %q, %q", rows[0][0], rows[1][0])
	}
	if !strings.Contains(rows[1][4], "org.example.generator syft") || !strings.Contains(rows[0][4], "dev.sigstore.cosign/bundle offline") {
		t.Errorf("referrer annotations not shown: %q, %q", rows[0][4], rows[1][4])
	}
	if tag := browsertest.Eval[string](t, tab, `(document.querySelector('a[data-fallback-tag]') || {}).textContent || ''`); tag != f.fallbackTag {
		t.Errorf("image page lists fallback tag %q, want %q", tag, f.fallbackTag)
	}
	if shots {
		tab.Do(t, "scroll to referrers", chromedp.Evaluate[chromedp.Void](`document.querySelector('section[aria-label="Referrers"]').scrollIntoView({block: 'start'})`))
		tab.Screenshot(t, "referrers-panel")
	}

	tab.Do(t, "open the SBOM", chromedp.Click(css(fmt.Sprintf(`a[data-referrer=%q]`, f.sbom.digest.String()))), chromedp.WaitVisible(css(`[data-artifact-type]`)))
	waitH1(t, tab, repo+"@"+shortHash(f.sbom.digest))
	if at := browsertest.Eval[string](t, tab, `document.querySelector('[data-artifact-type]').textContent`); at != spdxType {
		t.Errorf("SBOM page artifact type %q", at)
	}
	page := browsertest.Eval[string](t, tab, `document.querySelector('main').innerText`)
	for _, w := range []string{shortHash(f.image), "sbom.spdx.json", "org.example.generator"} {
		if !strings.Contains(page, w) {
			t.Errorf("SBOM page lacks %q", w)
		}
	}
	checkNoProblems(t, tab)
}

// TestUIReferrers: in auth mode none, the referrers panel of an image with
// an oras-style SBOM and a cosign signature, and the grouping of cosign's
// fallback tag under its image.
func TestUIReferrers(t *testing.T) {
	tab := browsertest.NewBrowser(t)
	st := stackrun.Start(t, nil, "--auth", "none")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	f := pushSignedFixture(t, ctx, reg.Repo("team", "signed"), clientLogin{})
	browseReferrers(t, tab, st.URL, "team/signed", f, true)
}

// TestUIReferrersRealClients: the panel with what the real clients write:
// an image signed by cosign (offline, OCI 1.1 referrers mode) carrying an
// SBOM attached by `oras attach`. This is the README's screenshot.
func TestUIReferrersRealClients(t *testing.T) {
	for _, tool := range []string{"cosign", "oras"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool+" (scripts/deps.sh installs it)")
		}
	}
	tab := browsertest.NewBrowser(t)
	st := stackrun.Start(t, nil, "--auth", "none")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	repo := reg.Repo("team", "release")
	img := clientscenarios.PushPullImage(t, ctx, repo.Tag("v1"), remote.WithContext(ctx))
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	egress := newEgressRecorder(t)
	c := newCosign(t, ctx, egress)
	c.must("", "generate-key-pair")
	c.must("", "sign", "--key", "cosign.key", "--tlog-upload=false", "--yes",
		"--registry-referrers-mode=oci-1-1", "--allow-http-registry", repo.Digest(digest.String()).String())
	o := newOras(t, ctx, clientLogin{}, map[string]string{"sbom.spdx.json": `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"team/release"}`})
	o.run("attach", "--plain-http", "--artifact-type", spdxType, "--annotation", "org.opencontainers.image.created=2026-12-01T00:00:00Z",
		repo.Tag("v1").String(), "sbom.spdx.json:"+spdxType)
	if seen := egress.requests(); len(seen) != 0 {
		t.Errorf("cosign tried to leave the machine: %v", seen)
	}

	tab.Do(t, "open v1", chromedp.Navigate(st.URL+"/r/team/release:v1"), chromedp.WaitVisible(css(`table.referrers`)))
	tab.WaitTrue(t, "two referrers", `document.querySelectorAll('table.referrers tbody tr').length === 2`)
	labels := browsertest.Eval[string](t, tab, `document.querySelector('table.referrers tbody').innerText`)
	for _, want := range []string{"Cosign signature", cosignSigType, "SPDX SBOM", spdxType} {
		if !strings.Contains(labels, want) {
			t.Errorf("referrers panel lacks %q:\n%s", want, labels)
		}
	}
	tab.Do(t, "scroll to referrers", chromedp.Evaluate[chromedp.Void](`document.querySelector('section[aria-label="Referrers"]').scrollIntoView({block: 'start'})`))
	tab.Screenshot(t, "referrers-panel-cosign-oras")
	checkNoProblems(t, tab)
}
