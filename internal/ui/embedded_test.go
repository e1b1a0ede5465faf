package ui

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/web"
)

// These tests check the real embedded UI: served as it should be, and
// free of what the CSP would block or what would reach other hosts.

func TestEmbeddedUIServes(t *testing.T) {
	h, err := New(Options{Assets: web.Static(), AuthMode: "none"})
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, get(t, h, "GET", "/", nil))
	refs := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 5 {
		t.Fatalf("index.html references %d assets:\n%s", len(refs), page)
	}
	for _, m := range refs {
		resp := get(t, h, "GET", m[1], map[string]string{"Accept-Encoding": "gzip"})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", m[1], resp.StatusCode)
		}
		if !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: Cache-Control %q, want immutable", m[1], resp.Header.Get("Cache-Control"))
		}
	}
}

// gzipBudget keeps the UI small: every asset, compressed as served.
const gzipBudget = 60 << 10

func TestEmbeddedUISize(t *testing.T) {
	h, err := New(Options{Assets: web.Static()})
	if err != nil {
		t.Fatal(err)
	}
	total := len(h.(*handler).index.gz)
	for _, a := range h.(*handler).assets {
		n := len(a.body)
		if a.gz != nil {
			n = len(a.gz)
		}
		total += n
	}
	t.Logf("UI assets: %d files, %d bytes as served (gzip where smaller)", len(h.(*handler).assets)+1, total)
	if total > gzipBudget {
		t.Errorf("UI assets are %d bytes compressed, over the %d byte budget", total, gzipBudget)
	}
}

func TestEmbeddedUIIsSelfContained(t *testing.T) {
	forbidden := []struct {
		re   *regexp.Regexp
		why  string
		exts []string
	}{
		{regexp.MustCompile(`https?://`), "reference to another host", []string{".js", ".css", ".html"}},
		{regexp.MustCompile(`@import|@font-face`), "CSS import or web font", []string{".css"}},
		{regexp.MustCompile(`<script(?:\s[^>]*)?>[^<\s]`), "inline script", []string{".html"}},
		{regexp.MustCompile(`\sstyle\s*=`), "inline style attribute", []string{".html", ".js"}},
		{regexp.MustCompile(`\son[a-z]+\s*=\s*"`), "inline event handler", []string{".html"}},
		{regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(`), "HTML string or code sink", []string{".js"}},
		{regexp.MustCompile(`localStorage\.setItem\([^)]*(?:cred|pass|token|auth)`), "secret in localStorage", []string{".js"}},
	}
	err := fs.WalkDir(web.Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.Static(), p)
		if err != nil {
			return err
		}
		text := string(b)
		if strings.HasSuffix(p, ".svg") {
			text = strings.ReplaceAll(text, "http://www.w3.org/2000/svg", "")
		}
		text = strings.ReplaceAll(text, "'http://www.w3.org/2000/svg'", "") // the SVG namespace is a name, not a fetch
		text = strings.ReplaceAll(text, "'http://registry.invalid'", "")    // base for parsing relative Link URLs
		if strings.HasSuffix(p, ".html") {
			for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(text, -1) {
				if !strings.Contains(tag, " src=") {
					t.Errorf("%s: script without src: %s", p, tag)
				}
			}
		}
		for _, f := range forbidden {
			applies := false
			for _, e := range f.exts {
				applies = applies || strings.HasSuffix(p, e)
			}
			if applies {
				if m := f.re.FindString(text); m != "" {
					t.Errorf("%s: %s: %q", p, f.why, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
