package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/registry-stack/registry-stack/internal/browsertest"
)

// TestUIOIDC: in oidc mode the UI shows each user only what the policy
// lets them do, who they are signed in as, and the referrers of an image
// they may only pull.
func TestUIOIDC(t *testing.T) {
	tab := browsertest.NewBrowser(t)
	s := newOIDCSetup(t, "rs-ui-oidc")
	st := s.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	seedAsAdmin(t, ctx, st, "team-a/app", "team-b/app", "public/base")
	noDelete := `document.querySelectorAll('input[data-select], #select-all, [data-delete-selected]').length === 0`

	tab.Do(t, "open UI", chromedp.Navigate(st.URL+"/"), chromedp.WaitVisible(css(`#username`)))
	signIn(t, tab, "bob", "bob-password")
	tab.WaitTrue(t, "bob's catalog", `document.querySelectorAll('a.repo').length === 2`)
	wantStrings(t, "bob's catalog", browsertest.Eval[[]string](t, tab, repoNames), []string{"public/base", "team-b/app"})
	tab.Screenshot(t, "oidc-catalog")

	tab.Do(t, "a repository bob may only pull", chromedp.Navigate(st.URL+"/r/public/base"), chromedp.WaitVisible(css(`table.tags a.tag`)))
	if !browsertest.Eval[bool](t, tab, noDelete) {
		t.Error("delete controls shown on public/base to a user without the delete right")
	}
	tab.Do(t, "a repository bob may delete in", chromedp.Navigate(st.URL+"/r/team-b/app"), chromedp.WaitVisible(css(`table.tags a.tag`)))
	tab.WaitTrue(t, "delete controls for bob's own team", `!!document.querySelector('input[data-select="v1"]')`)

	tab.Do(t, "identity panel", chromedp.WaitVisible(css(`#identity-toggle`)), chromedp.Click(css(`#identity-toggle`)), chromedp.WaitVisible(css(`#identity-panel`)))
	if u := browsertest.Eval[string](t, tab, `document.querySelector('dd[data-identity="user"]').textContent`); u != "bob" {
		t.Errorf("identity panel user = %q, want bob", u)
	}
	wantStrings(t, "identity panel groups", browsertest.Eval[[]string](t, tab, `[...document.querySelectorAll('dd[data-identity="groups"] li')].map(li => li.textContent)`), []string{"/team-b"})
	tab.Screenshot(t, "oidc-identity")

	// Referrers need only pull: bob reads a signed image in public/.
	reg, _ := name.NewRegistry(st.Addr, name.Insecure)
	f := pushSignedFixture(t, ctx, reg.Repo("public", "signed"), clientLogin{user: "carol", password: "carol-password"})
	browseReferrers(t, tab, st.URL, "public/signed", f, false)
	if p := tab.Problems(); len(p) > 0 {
		t.Errorf("browser problems: %q", p)
	}
}
