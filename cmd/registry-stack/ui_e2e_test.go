package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/registry-stack/registry-stack/internal/browsertest"
	"github.com/registry-stack/registry-stack/internal/clientscenarios"
	"github.com/registry-stack/registry-stack/internal/keycloaktest"
	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/tcprelay"
	"github.com/registry-stack/registry-stack/internal/testartifacts"
)

// End-to-end tests of the web UI in a real headless Chromium against the
// real binary. Screens are saved to $TEST_ARTIFACTS_DIR/screenshots.

// uiTags are team/app's tags: distinct images whose sizes and creation
// dates grow in this order, so every sort has one right answer.
var uiTags = []string{"v1", "v2", "v10", "latest"}

// richImage is an image with every config field the details page shows.
func richImage(t *testing.T, i int) v1.Image {
	t.Helper()
	img, err := random.Image(int64(1024*(i+1)), 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: time.Date(2024, time.Month(i+1), 6, 7, 8, 9, 0, time.UTC)}
	cf.Author = "registry-stack tests"
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/usr/local/bin/app"}
	cf.Config.Cmd = []string{"serve", "--port", "8080"}
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin", "APP_MODE=production"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://example.com/app", "team": "platform"}
	cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	cf.Config.User = "1000:1000"
	cf.Config.WorkingDir = "/srv/app"
	cf.History = []v1.History{
		{CreatedBy: "/bin/sh -c #(nop) ADD file:4b0ec1b3 in / "},
		{CreatedBy: "RUN /bin/sh -c apk add --no-cache ca-certificates # buildkit"},
		{CreatedBy: "ENV APP_MODE=production", EmptyLayer: true},
		{CreatedBy: `CMD ["serve" "--port" "8080"]`, EmptyLayer: true},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushUIFixtures pushes what the UI tests browse: team/app (uiTags), an OCI
// multi-platform index team/multiarch:1.0 and an OCI artifact team/sbom.
func pushUIFixtures(t *testing.T, ctx context.Context, reg name.Registry, opts ...remote.Option) {
	t.Helper()
	app := reg.Repo("team", "app")
	for i, tag := range uiTags {
		if err := remote.Write(app.Tag(tag), richImage(t, i), append(opts, remote.WithContext(ctx))...); err != nil {
			t.Fatalf("push %s: %v", tag, err)
		}
	}
	clientscenarios.PushPullIndex(t, ctx, reg.Repo("team", "multiarch").Tag("1.0"), opts...)
	clientscenarios.PushPullArtifact(t, ctx, reg.Repo("team", "sbom").Tag("latest"), opts...)
}

// Selectors and page predicates shared by the tests.
const (
	tagNames     = `[...document.querySelectorAll('table.tags a.tag')].map(a => a.textContent)`
	repoNames    = `[...document.querySelectorAll('a.repo')].map(a => a.textContent)`
	detailsShown = `[...document.querySelectorAll('table.tags tbody td.num')].every(td => td.textContent !== '…')`
	h1Text       = `document.querySelector('main h1') ? document.querySelector('main h1').textContent : ''`
)

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

func waitH1(t *testing.T, tab *browsertest.Tab, want string) {
	t.Helper()
	tab.WaitTrue(t, "heading "+want, fmt.Sprintf(`(%s) === %q`, h1Text, want))
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func checkNoProblems(t *testing.T, tab *browsertest.Tab) {
	t.Helper()
	for _, p := range tab.Problems() {
		t.Errorf("page problem: %s", p)
	}
}

// browseCatalogToDetails walks catalog → repository → tag → details with
// the keyboard filter and clicks, checking what each screen shows.
func browseCatalogToDetails(t *testing.T, tab *browsertest.Tab, shots string) {
	tab.Do(t, "catalog rows", chromedp.WaitVisible(css(`a.repo[href="/r/team/app"]`)))
	wantStrings(t, "catalog", browsertest.Eval[[]string](t, tab, repoNames), []string{"team/app", "team/multiarch", "team/sbom"})
	tab.Screenshot(t, shots+"catalog")

	// Ctrl+F focuses the filter; typing filters; Escape clears.
	tab.Do(t, "ctrl+f", chromedp.KeyEvent("f", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	if id := browsertest.Eval[string](t, tab, `document.activeElement.id`); id != "filter" {
		t.Errorf("Ctrl+F focused %q, want the filter", id)
	}
	tab.Do(t, "type filter", chromedp.KeyEvent("multi"))
	tab.WaitTrue(t, "filtered catalog", `document.querySelectorAll('a.repo').length === 1`)
	wantStrings(t, "filtered catalog", browsertest.Eval[[]string](t, tab, repoNames), []string{"team/multiarch"})
	if loc := browsertest.Eval[string](t, tab, `location.search`); loc != "?q=multi" {
		t.Errorf("filter not kept in the URL: %q", loc)
	}
	tab.Do(t, "escape clears", chromedp.KeyEvent(kb.Escape))
	tab.WaitTrue(t, "unfiltered catalog", `document.querySelectorAll('a.repo').length === 3`)
	tab.Do(t, "blur filter", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	tab.Do(t, "F3", chromedp.KeyEvent(kb.F3))
	if id := browsertest.Eval[string](t, tab, `document.activeElement.id`); id != "filter" {
		t.Errorf("F3 focused %q, want the filter", id)
	}

	// Optional tag counts, one tags/list per shown repository.
	tab.Do(t, "tag counts on", chromedp.Click(css(`#tag-counts`)))
	tab.WaitTrue(t, "tag counts", `[...document.querySelectorAll('table.catalog td.num')].map(td => td.textContent).join() === '4,1,1'`)
	tab.Do(t, "tag counts off", chromedp.Click(css(`#tag-counts`)))

	// Repository: number-aware order (newest first by default), details filled in lazily.
	tab.Do(t, "open repository", chromedp.Click(css(`a.repo[href="/r/team/app"]`)), chromedp.WaitVisible(css(`table.tags a.tag`)))
	waitH1(t, tab, "team/app")
	wantStrings(t, "tag order", browsertest.Eval[[]string](t, tab, tagNames), []string{"v10", "v2", "v1", "latest"})
	tab.WaitTrue(t, "sizes and dates", detailsShown)
	tab.Do(t, "show digests", chromedp.Click(css(`#show-digests`)))
	tab.WaitTrue(t, "digest column", `getComputedStyle(document.querySelector('th.digest')).display !== 'none' && document.querySelector('td.digest code').textContent.startsWith('sha256:')`)
	tab.Screenshot(t, shots+"repository")

	sorts := []struct {
		button, aria string
		want         []string
	}{
		{"tag", "ascending", []string{"latest", "v1", "v2", "v10"}},
		{"size", "descending", []string{"latest", "v10", "v2", "v1"}},
		{"size", "ascending", []string{"v1", "v2", "v10", "latest"}},
		{"created", "descending", []string{"latest", "v10", "v2", "v1"}},
		{"tag", "descending", []string{"v10", "v2", "v1", "latest"}},
	}
	for _, s := range sorts {
		tab.Do(t, "sort by "+s.button, chromedp.Click(css(`button[data-sort="`+s.button+`"]`)))
		tab.WaitTrue(t, "sorted by "+s.button, fmt.Sprintf(`document.querySelector('button[data-sort=%q]').closest('th').getAttribute('aria-sort') === %q`, s.button, s.aria))
		wantStrings(t, "order by "+s.button+" "+s.aria, browsertest.Eval[[]string](t, tab, tagNames), s.want)
	}

	// Copy the pull command of the first row.
	tab.Do(t, "copy pull command", chromedp.Click(css(`table.tags tbody tr:first-child td.actions-cell button`)))
	tab.WaitTrue(t, "copy announced", `document.getElementById('live').textContent.startsWith('Copied')`)

	// Details of v1: config, history, layers.
	tab.Do(t, "open tag", chromedp.Click(css(`a.tag[href="/r/team/app:v1"]`)), chromedp.WaitVisible(css(`[data-entrypoint]`)))
	waitH1(t, tab, "team/app:v1")
	texts := map[string]string{
		`[data-entrypoint]`: `["/usr/local/bin/app"]`,
		`[data-cmd]`:        `["serve","--port","8080"]`,
		`[data-ports]`:      `8080/tcp`,
		`[data-kind]`:       `Image`,
	}
	for sel, want := range texts {
		if got := browsertest.Eval[string](t, tab, fmt.Sprintf(`document.querySelector(%q).textContent`, sel)); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	page := browsertest.Eval[string](t, tab, `document.querySelector('main').innerText`)
	for _, want := range []string{
		"APP_MODE", "production", "org.opencontainers.image.source", "1000:1000", "/srv/app", "2024-01-06 07:08 UTC",
		"RUN apk add --no-cache ca-certificates", "ADD file:4b0ec1b3 in /", "ENV APP_MODE=production",
		"application/vnd.docker.distribution.manifest.v2+json", "tar+gzip (Docker)", "docker pull ",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("details page lacks %q", want)
		}
	}
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('table.layers tbody tr').length`); n != 2 {
		t.Errorf("layers table has %d rows, want 2", n)
	}
	tab.Screenshot(t, shots+"tag-details")

	// Back and forward.
	tab.Do(t, "back", chromedp.NavigateBack())
	waitH1(t, tab, "team/app")
	tab.Do(t, "forward", chromedp.NavigateForward())
	waitH1(t, tab, "team/app:v1")
}

// browseIndexAndArtifact checks the multi-platform index and the artifact.
func browseIndexAndArtifact(t *testing.T, tab *browsertest.Tab, baseURL, shots string) {
	tab.Do(t, "open index", chromedp.Navigate(baseURL+"/r/team/multiarch"), chromedp.WaitVisible(css(`a.tag[href="/r/team/multiarch:1.0"]`)))
	tab.Do(t, "open 1.0", chromedp.Click(css(`a.tag[href="/r/team/multiarch:1.0"]`)), chromedp.WaitVisible(css(`[data-platform]`)))
	wantStrings(t, "platforms", browsertest.Eval[[]string](t, tab, `[...document.querySelectorAll('[data-platform]')].map(a => a.textContent)`), []string{"linux/amd64", "linux/arm64/v8"})
	if kind := browsertest.Eval[string](t, tab, `document.querySelector('[data-kind]').textContent`); kind != "Multi-platform index" {
		t.Errorf("index kind %q", kind)
	}
	tab.Screenshot(t, shots+"multiarch-index")
	tab.Do(t, "open arm64", chromedp.Click(css(`[data-platform="linux/arm64/v8"]`)), chromedp.WaitVisible(css(`section[aria-label="Configuration"]`)))
	if h := browsertest.Eval[string](t, tab, h1Text); !strings.HasPrefix(h, "team/multiarch@sha256:") {
		t.Errorf("platform page heading %q", h)
	}
	if mt := browsertest.Eval[string](t, tab, `document.querySelector('main').innerText`); !strings.Contains(mt, "application/vnd.oci.image.manifest.v1+json") {
		t.Errorf("platform page does not show the OCI manifest media type")
	}

	tab.Do(t, "open artifact", chromedp.Navigate(baseURL+"/r/team/sbom:latest"), chromedp.WaitVisible(css(`[data-artifact-type]`)))
	if at := browsertest.Eval[string](t, tab, `document.querySelector('[data-artifact-type]').textContent`); at != clientscenarios.ArtifactType {
		t.Errorf("artifact type %q, want %q", at, clientscenarios.ArtifactType)
	}
	if kind := browsertest.Eval[string](t, tab, `document.querySelector('[data-kind]').textContent`); kind != "Artifact" {
		t.Errorf("artifact kind %q", kind)
	}
	if blobs := browsertest.Eval[string](t, tab, `document.querySelector('table.layers').innerText`); !strings.Contains(blobs, "application/spdx+json") {
		t.Errorf("artifact blobs table lacks the payload media type:\n%s", blobs)
	}
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('table.referrers').length`); n != 0 {
		t.Errorf("referrers shown although nothing refers to the artifact")
	}
	tab.Screenshot(t, shots+"artifact")
}

// deleteTags selects with a click and a shift-click, cancels once, then
// confirms, and checks the registry.
func deleteTags(t *testing.T, tab *browsertest.Tab, ctx context.Context, baseURL string, repo name.Repository, opts ...remote.Option) {
	tab.Do(t, "open repository", chromedp.Navigate(baseURL+"/r/team/app"), chromedp.WaitVisible(css(`input[data-select="v10"]`)))
	tab.WaitTrue(t, "sizes and dates", detailsShown)
	deleteLabel := `document.querySelector('[data-delete-selected]').textContent`

	tab.Do(t, "select all", chromedp.Click(css(`#select-all`)))
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('input[data-select]:checked').length`); n != 4 {
		t.Errorf("select all checked %d boxes, want 4", n)
	}
	tab.Do(t, "select none", chromedp.Click(css(`#select-all`)))
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('input[data-select]:checked').length`); n != 0 {
		t.Errorf("second click on select all left %d boxes checked", n)
	}

	// Click v10, shift-click v1: the range v10, v2, v1 in display order.
	tab.Do(t, "click v10", chromedp.Click(css(`input[data-select="v10"]`)))
	nodes, err := chromedp.Run(tab.Ctx, chromedp.Nodes(css(`input[data-select="v1"]`)))
	if err != nil || len(nodes) != 1 {
		t.Fatalf("find v1 checkbox: %v", err)
	}
	tab.Do(t, "shift-click v1", chromedp.MouseClickNode(nodes[0], chromedp.ButtonModifiers(chromedp.ModifierShift)))
	if label := browsertest.Eval[string](t, tab, deleteLabel); label != "Delete 3 tags" {
		t.Fatalf("after shift-click the delete button says %q, want \"Delete 3 tags\"", label)
	}

	tab.Do(t, "ask to delete", chromedp.Click(css(`[data-delete-selected]`)), chromedp.WaitVisible(css(`dialog[open]`)))
	dialog := browsertest.Eval[string](t, tab, `document.querySelector('dialog[open]').innerText`)
	for _, want := range []string{"Delete 3 tags from team/app?", "v10", "v2", "v1"} {
		if !strings.Contains(dialog, want) {
			t.Errorf("confirmation lacks %q:\n%s", want, dialog)
		}
	}
	if f := browsertest.Eval[string](t, tab, `document.activeElement.textContent`); f != "Cancel" {
		t.Errorf("focus in the confirmation is on %q, want Cancel", f)
	}
	tab.Screenshot(t, "delete-confirm")
	tab.Do(t, "cancel", chromedp.Click(css(`dialog[open] button[value="cancel"]`)), chromedp.WaitNotPresent(css(`dialog`)))
	tags, err := remote.List(repo, append(opts, remote.WithContext(ctx))...)
	if err != nil || len(tags) != 4 {
		t.Fatalf("after cancel the registry has tags %v (%v), want all 4", tags, err)
	}

	tab.Do(t, "delete", chromedp.Click(css(`[data-delete-selected]`)), chromedp.WaitVisible(css(`dialog[open]`)), chromedp.Click(css(`dialog[open] [data-confirm]`)))
	tab.WaitTrue(t, "deleted message", `!!document.querySelector('.flash-ok') && document.querySelector('.flash-ok').textContent.includes('Deleted 3 tags')`)
	tab.WaitTrue(t, "table reloaded", `document.querySelectorAll('table.tags a.tag').length === 1`)
	tags, err = remote.List(repo, append(opts, remote.WithContext(ctx))...)
	if err != nil || !slices.Equal(tags, []string{"latest"}) {
		t.Fatalf("after delete the registry has tags %v (%v), want [latest]", tags, err)
	}
}

func TestUINoAuth(t *testing.T) {
	tab := browsertest.NewBrowser(t)
	st := stackrun.Start(t, nil, "--auth", "none")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	pushUIFixtures(t, ctx, reg)

	resp, err := http.Get(st.URL + "/r/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("deep link page headers: CSP %q, nosniff %q", csp, resp.Header.Get("X-Content-Type-Options"))
	}

	tab.Do(t, "open UI", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(css(`a.repo`)))
	if signin := browsertest.Eval[int](t, tab, `document.querySelectorAll('#username').length`); signin != 0 {
		t.Errorf("auth none shows a sign-in form")
	}
	// Keyboard users meet the skip link first, then the header, then the page.
	var order []string
	for range 5 {
		tab.Do(t, "tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, browsertest.Eval[string](t, tab, `document.activeElement.id || document.activeElement.className || document.activeElement.tagName`))
	}
	wantStrings(t, "focus order", order, []string{"skip", "brand", "theme", "filter", "tag-counts"})
	browseCatalogToDetails(t, tab, "noauth-")
	browseIndexAndArtifact(t, tab, st.URL, "noauth-")

	// A deep link survives a reload.
	tab.Do(t, "deep link", chromedp.Navigate(st.URL+"/r/team/app:v10"))
	waitH1(t, tab, "team/app:v10")
	tab.Do(t, "reload", chromedp.Reload())
	waitH1(t, tab, "team/app:v10")
	tab.WaitTrue(t, "details after reload", `!!document.querySelector('[data-entrypoint]')`)

	// The real listing is covered by TestUIReferrers; a failing one is injected here.
	t.Run("a failing referrers listing leaves the details page whole", func(t *testing.T) {
		stop := tab.Intercept(t, []string{"*/v2/team/app/referrers/*"}, browsertest.Reply{Status: 500, Body: `{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}`})
		defer stop()
		tab.Do(t, "details with a failing referrers listing", chromedp.Navigate(st.URL+"/r/team/app:v2"), chromedp.WaitVisible(css(`details.raw`)))
		if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('table.referrers, [data-problem]').length`); n != 0 {
			t.Errorf("a failing referrers listing shows a referrers table or a problem (%d)", n)
		}
		if !browsertest.Eval[bool](t, tab, `!!document.querySelector('[data-entrypoint]')`) {
			t.Error("a failing referrers listing hides the image configuration")
		}
	})

	t.Run("error states", func(t *testing.T) {
		tab.Do(t, "unknown repository", chromedp.Navigate(st.URL+"/r/team/nope"), chromedp.WaitVisible(css(`[data-problem="notfound"]`)))
		tab.Do(t, "unknown page", chromedp.Navigate(st.URL+"/no/such/page"), chromedp.WaitVisible(css(`[data-problem="notfound"]`)))

		stop := tab.Intercept(t, []string{"*/v2/_catalog*"}, browsertest.Reply{Status: 403, Body: `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`})
		tab.Do(t, "forbidden catalog", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(css(`[data-problem="forbidden"]`)))
		if txt := browsertest.Eval[string](t, tab, `document.querySelector('[data-problem]').innerText`); !strings.Contains(txt, "Ask a registry administrator") {
			t.Errorf("403 state does not say what to do: %q", txt)
		}
		tab.Screenshot(t, "error-forbidden")
		stop()

		stop = tab.Intercept(t, []string{"*/v2/_catalog*"}, browsertest.Reply{Fail: true})
		tab.Do(t, "registry unreachable", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(css(`[data-problem="network"]`)))
		tab.Screenshot(t, "error-network")
		stop()
		tab.Do(t, "retry", chromedp.Click(css(`[data-problem="network"] button`)), chromedp.WaitVisible(css(`a.repo`)))
	})

	deleteTags(t, tab, ctx, st.URL, reg.Repo("team", "app"))

	t.Run("theme", func(t *testing.T) {
		tab.Do(t, "catalog", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(css(`a.repo`)))
		tab.Do(t, "light", chromedp.Click(css(`#theme`)))
		tab.Do(t, "dark", chromedp.Click(css(`#theme`)))
		if bg := browsertest.Eval[string](t, tab, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
			t.Errorf("dark theme background %q", bg)
		}
		tab.Do(t, "reload", chromedp.Reload(), chromedp.WaitVisible(css(`a.repo`)))
		if th := browsertest.Eval[string](t, tab, `document.documentElement.dataset.theme`); th != "dark" {
			t.Errorf("theme after reload %q, want dark kept", th)
		}
		tab.Screenshot(t, "catalog-dark")
		tab.Do(t, "details dark", chromedp.Navigate(st.URL+"/r/team/app:latest"), chromedp.WaitVisible(css(`[data-entrypoint]`)))
		tab.Screenshot(t, "tag-details-dark")
		tab.Do(t, "auto", chromedp.Click(css(`#theme`)))
	})

	t.Run("delete from the details page", func(t *testing.T) {
		tab.Do(t, "details", chromedp.Navigate(st.URL+"/r/team/app:latest"), chromedp.WaitVisible(css(`[data-entrypoint]`)))
		tab.Do(t, "delete", chromedp.Click(css(`section[aria-label="Overview"] .btn-danger`)), chromedp.WaitVisible(css(`dialog[open]`)), chromedp.Click(css(`dialog[open] [data-confirm]`)))
		waitH1(t, tab, "team/app")
		tab.WaitTrue(t, "notice", `!!document.querySelector('.flash-ok') && document.querySelector('.flash-ok').textContent === 'Deleted team/app:latest.'`)
		if loc := browsertest.Eval[string](t, tab, `location.pathname`); loc != "/r/team/app" {
			t.Errorf("after delete the page is %q, want the repository", loc)
		}
		if _, err := remote.Head(reg.Repo("team", "app").Tag("latest"), remote.WithContext(ctx)); err == nil {
			t.Errorf("team/app:latest still served after delete")
		}
		tab.Do(t, "next page", chromedp.Click(css(`a.brand`)), chromedp.WaitVisible(css(`a.repo`)))
		if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('.flash').length`); n != 0 {
			t.Errorf("the delete notice outlived the next navigation")
		}
	})

	checkNoProblems(t, tab)

	// The problem recorder must be able to fail: a style attribute set from
	// script is a CSP violation the browser reports.
	tab.Do(t, "provoke a CSP violation", chromedp.Evaluate[chromedp.Void](`document.body.setAttribute('style', 'color: red')`))
	deadline := time.Now().Add(10 * time.Second)
	var seen []string
	for time.Now().Before(deadline) && len(seen) == 0 {
		seen = tab.Problems()
		time.Sleep(50 * time.Millisecond)
	}
	if len(seen) == 0 || !strings.Contains(strings.Join(seen, "\n"), "Content Security Policy") {
		t.Errorf("a CSP violation was not recorded as a page problem: %q", seen)
	}
}

// TestUIRuntimeSettings: title, pull host, theme and delete come from the
// server's configuration at run time.
func TestUIRuntimeSettings(t *testing.T) {
	tab := browsertest.NewBrowser(t)
	st := stackrun.Start(t, []string{
		"REGISTRY_STACK_UI_TITLE=Lab registry", "REGISTRY_STACK_UI_PULL_HOST=registry.example.com",
		"REGISTRY_STACK_UI_THEME=dark", "REGISTRY_STACK_STORAGE_DELETE=false",
	}, "--auth", "none")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	if err := remote.Write(reg.Repo("team", "app").Tag("v1"), richImage(t, 0), remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	tab.Do(t, "repository", chromedp.Navigate(st.URL+"/r/team/app"), chromedp.WaitVisible(css(`a.tag`)))
	if title := browsertest.Eval[string](t, tab, `document.title`); title != "team/app · Lab registry" {
		t.Errorf("document title %q", title)
	}
	if brand := browsertest.Eval[string](t, tab, `document.querySelector('a.brand').textContent`); brand != "Lab registry" {
		t.Errorf("header title %q", brand)
	}
	if th := browsertest.Eval[string](t, tab, `document.documentElement.dataset.theme`); th != "dark" {
		t.Errorf("theme %q, want the configured dark", th)
	}
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('input[data-select], #select-all, [data-delete-selected]:not([hidden])').length`); n != 0 {
		t.Errorf("delete controls shown although storage.delete is false (%d)", n)
	}
	tab.Do(t, "details", chromedp.Click(css(`a.tag`)), chromedp.WaitVisible(css(`[data-entrypoint]`)))
	if cmd := browsertest.Eval[string](t, tab, `document.querySelector('.command code').textContent`); cmd != "docker pull registry.example.com/team/app:v1" {
		t.Errorf("pull command %q", cmd)
	}
	if n := browsertest.Eval[int](t, tab, `[...document.querySelectorAll('button')].filter(b => b.textContent.startsWith('Delete')).length`); n != 0 {
		t.Errorf("details page offers delete although storage.delete is false")
	}
	checkNoProblems(t, tab)
}

// uiKeycloakStack starts a keycloak-mode stack with the UI fixtures.
func uiKeycloakStack(t *testing.T, ctx context.Context, prefix string) (keycloaktest.Realm, *stackrun.Stack, name.Registry) {
	t.Helper()
	realm, st := keycloakStack(t, prefix)
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	pushUIFixtures(t, ctx, reg, basic(realm))
	return realm, st, reg
}

func signIn(t *testing.T, tab *browsertest.Tab, user, password string) {
	t.Helper()
	tab.Do(t, "sign in",
		chromedp.WaitVisible(css(`#username`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#username').value = ''; document.querySelector('#password').value = ''`),
		chromedp.SendKeys(css(`#username`), user),
		chromedp.SendKeys(css(`#password`), password+kb.Enter),
	)
}

func TestUIKeycloak(t *testing.T) {
	tab := browsertest.NewBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	realm, st, reg := uiKeycloakStack(t, ctx, "ui")

	var cfg map[string]any
	resp, err := http.Get(st.URL + "/ui/config.json")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if cfg["authMode"] != "keycloak" || cfg["tokenPath"] != realm.TokenPath() || cfg["service"] != realm.Service || cfg["deleteEnabled"] != true {
		t.Errorf("config.json in keycloak mode: %v", cfg)
	}

	// A deep link asks for sign-in first and lands where it pointed.
	tab.Do(t, "deep link", chromedp.Navigate(st.URL+"/r/team/app:v2"), chromedp.WaitVisible(css(`#username`)))
	tab.Screenshot(t, "signin")
	signIn(t, tab, realm.User, "wrong-password")
	tab.WaitTrue(t, "wrong password message", `!document.getElementById('signin-error').hidden`)
	if msg := browsertest.Eval[string](t, tab, `document.getElementById('signin-error').textContent`); !strings.Contains(msg, "Wrong user name or password") {
		t.Errorf("wrong password shows %q", msg)
	}
	if f := browsertest.Eval[string](t, tab, `document.activeElement.id`); f != "password" {
		t.Errorf("after a wrong password the focus is on %q, want the password field", f)
	}
	tab.Screenshot(t, "signin-wrong-password")

	signIn(t, tab, realm.User, realm.Password)
	waitH1(t, tab, "team/app:v2")
	tab.WaitTrue(t, "details", `!!document.querySelector('[data-entrypoint]')`)
	if u := browsertest.Eval[string](t, tab, `document.querySelector('[data-user]').textContent`); u != realm.User {
		t.Errorf("signed in as %q, want %q", u, realm.User)
	}

	// Credentials only in this tab's sessionStorage: never in localStorage, the URL or history.
	leak := fmt.Sprintf(`[JSON.stringify(localStorage), location.href, document.cookie].some(s => s.includes(%q))`, realm.Password)
	if browsertest.Eval[bool](t, tab, leak) {
		t.Errorf("the password is in localStorage, the URL or a cookie")
	}
	if browsertest.Eval[bool](t, tab, fmt.Sprintf(`JSON.stringify(sessionStorage).includes(%q)`, realm.Password)) {
		t.Errorf("the password is in sessionStorage in clear text")
	}

	tab.Do(t, "reload", chromedp.Reload())
	waitH1(t, tab, "team/app:v2")
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('#username').length`); n != 0 {
		t.Errorf("reload asked to sign in again")
	}

	tab.Do(t, "catalog", chromedp.Click(css(`a.brand`)))
	browseCatalogToDetails(t, tab, "")
	browseIndexAndArtifact(t, tab, st.URL, "")
	deleteTags(t, tab, ctx, st.URL, reg.Repo("team", "app"), basic(realm))

	t.Run("new tab signs in and returns to the deep link", func(t *testing.T) {
		other := tab.NewTab(t)
		other.Do(t, "deep link in a new tab", chromedp.Navigate(st.URL+"/r/team/multiarch:1.0"), chromedp.WaitVisible(css(`#username`)))
		signIn(t, other, realm.User, realm.Password)
		waitH1(t, other, "team/multiarch:1.0")
		other.WaitTrue(t, "platforms", `document.querySelectorAll('[data-platform]').length === 2`)
		checkNoProblems(t, other)
	})

	t.Run("keycloak unreachable", func(t *testing.T) {
		// A second stack reaches the same real Keycloak through a relay;
		// cutting the relay is a real outage for that stack only.
		relay := tcprelay.New(t, strings.TrimPrefix(realm.Server.URL, "http://"))
		cut := stackrun.Start(t, nil, realm.StackArgsVia(relay.URL)...)
		relay.Cut()
		other := tab.NewTab(t)
		other.Do(t, "open", chromedp.Navigate(cut.URL+"/"))
		signIn(t, other, realm.User, realm.Password)
		other.WaitTrue(t, "outage message", `!document.getElementById('signin-error').hidden`)
		msg := browsertest.Eval[string](t, other, `document.getElementById('signin-error').textContent`)
		for _, want := range []string{"Sign-in service unavailable", "Keycloak", "5 seconds"} {
			if !strings.Contains(msg, want) {
				t.Errorf("Keycloak outage message %q lacks %q", msg, want)
			}
		}
		other.Screenshot(t, "signin-keycloak-unreachable")
	})

	tab.Do(t, "sign out", chromedp.Click(css(`#signout`)), chromedp.WaitVisible(css(`#username`)))
	if n := browsertest.Eval[int](t, tab, `sessionStorage.length`); n != 0 {
		t.Errorf("sessionStorage keeps %d items after sign-out", n)
	}
	tab.Do(t, "catalog after sign-out", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(css(`#username`)))
	checkNoProblems(t, tab)
}

// TestUIFigures measures, without asserting on time: first rows of a
// 5,000-repository catalog and of a 1,000-tag repository, and the bytes the
// UI transfers on a first load with an empty cache. The registry is seeded
// in auth none, then served in keycloak mode when a Keycloak is available.
func TestUIFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 5,000 repositories")
	}
	tab := browsertest.NewBrowser(t)
	dataDir := t.TempDir()
	seed := stackrun.Start(t, nil, "--auth", "none", "--data-dir", dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	seedRegistry(t, ctx, seed.Addr, 5000, 1000)
	t.Logf("seeded 5,000 repositories and 1,000 tags in %s", time.Since(start).Round(time.Millisecond))
	seed.Stop(t)

	mode := "none"
	st := (*stackrun.Stack)(nil)
	var realm keycloaktest.Realm
	if os.Getenv("KEYCLOAK_URL") != "" || os.Getenv("CI") == "true" {
		mode = "keycloak"
		realm = keycloaktest.NewRealm(t, keycloaktest.Require(t), "figures")
		st = stackrun.Start(t, nil, append(realm.StackArgs(), "--data-dir", dataDir)...)
	} else {
		st = stackrun.Start(t, nil, "--auth", "none", "--data-dir", dataDir)
	}

	// First load, empty cache: everything until the first screen is usable.
	tab.Transfers()
	first := css(`a.repo`)
	if mode == "keycloak" {
		first = css(`#username`)
	}
	tab.Do(t, "first load", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(first))
	var all, bodies int64
	transfers := tab.Transfers()
	for _, tr := range transfers {
		all += tr.Bytes
		bodies += tr.BodyBytes
	}
	testartifacts.Figure(t, "ui_first_load_bytes", fmt.Sprintf("%d in %d responses, of which %d compressed bodies and the rest headers (auth %s, until the first screen)", all, len(transfers), bodies, mode))
	if mode == "keycloak" {
		signIn(t, tab, realm.User, realm.Password)
		tab.Do(t, "rows after sign-in", chromedp.WaitVisible(css(`a.repo`)))
	}

	// Time to first rows on a fresh page load (token fetch included in keycloak mode).
	mark := func(what, name string) float64 {
		tab.WaitTrue(t, what, fmt.Sprintf(`performance.getEntriesByName(%q).length > 0`, name))
		return browsertest.Eval[float64](t, tab, fmt.Sprintf(`performance.getEntriesByName(%q)[0].startTime`, name))
	}
	tab.Do(t, "catalog load", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(css(`a.repo`)))
	ms := mark("catalog rows", "rs:catalog-rows")
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('a.repo').length`); n != 100 {
		t.Errorf("first catalog page shows %d rows, want 100 (one n=100 request, not the whole catalog)", n)
	}
	testartifacts.Figure(t, "catalog_5000_first_rows_ms", fmt.Sprintf("%.0f (auth %s)", ms, mode))
	tab.Do(t, "load more", chromedp.Click(css(`.more button`)))
	tab.WaitTrue(t, "second page", `document.querySelectorAll('a.repo').length === 200`)
	if last := browsertest.Eval[string](t, tab, `[...document.querySelectorAll('a.repo')].pop().textContent`); last != "seed/repo-00198" {
		t.Errorf("second page ends with %q, want seed/repo-00198", last)
	}

	tab.Do(t, "tags load", chromedp.Navigate(st.URL+"/r/big/tags"), chromedp.WaitVisible(css(`a.tag`)))
	ms = mark("tag rows", "rs:tag-rows")
	if n := browsertest.Eval[int](t, tab, `document.querySelectorAll('a.tag').length`); n != 1000 {
		t.Errorf("tag list shows %d rows, want 1000", n)
	}
	testartifacts.Figure(t, "tags_1000_first_rows_ms", fmt.Sprintf("%.0f (auth %s)", ms, mode))
	checkNoProblems(t, tab)
}

// seedRegistry pushes one tiny image to repos repositories (32 workers,
// blobs mounted from the first repository) and tags tags of it in big/tags.
func seedRegistry(t *testing.T, ctx context.Context, addr string, repos, tags int) {
	t.Helper()
	reg, _ := name.NewRegistry(addr, name.Insecure)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(tr), remote.WithJobs(1)}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	src := reg.Repo("big", "tags").Tag("v0")
	if err := remote.Write(src, img, opts...); err != nil {
		t.Fatalf("seed: %v", err)
	}
	pulled, err := remote.Image(src, opts...) // its layers are mountable into other repositories
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	run := func(n, workers int, job func(i int) error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var once sync.Once
		var first error
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := job(i); err != nil {
						once.Do(func() { first = err })
						return
					}
				}
			}()
		}
		wg.Wait()
		if first != nil {
			t.Fatalf("seed: %v", first)
		}
	}
	run(repos-1, 32, func(i int) error {
		return remote.Write(reg.Repo("seed", fmt.Sprintf("repo-%05d", i)).Tag("latest"), pulled, opts...)
	})
	run(tags-1, 32, func(i int) error {
		return remote.Tag(reg.Repo("big", "tags").Tag(fmt.Sprintf("v%d", i+1)), pulled, opts...)
	})
}
