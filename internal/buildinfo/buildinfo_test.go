package buildinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// fixture is build info as debug.BuildInfo.String writes it (the Go
// version is not part of that text), for a release build with one module
// replaced by another version and one by a directory.
const fixture = "path\tgithub.com/registry-stack/registry-stack/cmd/registry-stack\n" +
	"mod\tgithub.com/registry-stack/registry-stack\tv1.2.3\t\n" +
	"dep\tgithub.com/Nerzal/gocloak/v13\tv13.9.0\th1:YWsJsdM5b0yhM2Ba3MLydiOlujkBry4TtdzfIzSVZhw=\n" +
	"dep\tgithub.com/distribution/distribution/v3\tv3.1.2\th1:/Bv2YIqqSR00HiO49FT93hovy6r9IlrzwUDsJjCN5qg=\n" +
	"dep\tgithub.com/gorilla/mux\tv1.8.1\th1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=\n" +
	"dep\tgithub.com/old/thing\tv2.0.0+incompatible\n" +
	"=>\tgithub.com/fork/thing\tv2.0.1-0.20260101000000-abcdefabcdef\th1:Zm9yaw==\n" +
	"dep\texample.com/local\tv0.1.0\n" +
	"=>\t../local\t\t\n" +
	"build\t-buildmode=exe\n" +
	"build\t-compiler=gc\n" +
	"build\t-ldflags=\"-s -w -X main.version=1.2.3\"\n" +
	"build\t-trimpath=true\n" +
	"build\tCGO_ENABLED=0\n" +
	"build\tGOARCH=amd64\n" +
	"build\tGOOS=linux\n" +
	"build\tvcs=git\n" +
	"build\tvcs.revision=0123456789abcdef0123456789abcdef01234567\n" +
	"build\tvcs.time=2026-12-01T03:00:00Z\n" +
	"build\tvcs.modified=false\n"

func fixtureInfo(t *testing.T) Info {
	t.Helper()
	bi, err := debug.ParseBuildInfo(fixture)
	if err != nil {
		t.Fatalf("parse fixture: %v", err)
	}
	bi.GoVersion = "go1.26.8 X:nocoverageredesign"
	return FromBuildInfo(bi, "1.2.3")
}

func TestFromBuildInfo(t *testing.T) {
	info := fixtureInfo(t)
	if info.Version != "1.2.3" || info.Main.Path != "github.com/registry-stack/registry-stack" || info.Main.Version != "v1.2.3" {
		t.Errorf("version/main = %q %+v", info.Version, info.Main)
	}
	if info.GoVersion != "go1.26.8 X:nocoverageredesign" {
		t.Errorf("go version = %q", info.GoVersion)
	}
	want := Settings{
		GOOS: "linux", GOARCH: "amd64", CGOEnabled: "0", Trimpath: "true",
		Ldflags: "-s -w -X main.version=1.2.3",
		VCS:     "git", VCSRevision: "0123456789abcdef0123456789abcdef01234567",
		VCSTime: "2026-12-01T03:00:00Z", VCSModified: "false",
	}
	if info.Settings != want {
		t.Errorf("settings = %+v\nwant %+v", info.Settings, want)
	}
	if len(info.Deps) != 5 {
		t.Fatalf("deps = %d, want 5: %+v", len(info.Deps), info.Deps)
	}
	if r := info.Deps[3].Replace; r == nil || r.Path != "github.com/fork/thing" || r.Sum != "h1:Zm9yaw==" {
		t.Errorf("replace = %+v", r)
	}
}

func TestJSON(t *testing.T) {
	out, err := fixtureInfo(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
		Main      struct{ Path, Version string }
		Settings  map[string]string
		Deps      []struct {
			Path, Version, Sum string
			Replace            *struct{ Path, Version string }
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Version != "1.2.3" || got.Main.Version != "v1.2.3" || got.GoVersion == "" {
		t.Errorf("header = %+v", got)
	}
	for _, k := range []string{"goos", "goarch", "cgo_enabled", "trimpath", "ldflags", "vcs_revision", "vcs_time", "vcs_modified"} {
		if got.Settings[k] == "" {
			t.Errorf("settings.%s missing: %v", k, got.Settings)
		}
	}
	found := false
	for _, d := range got.Deps {
		if d.Path == "github.com/distribution/distribution/v3" {
			found = d.Version == "v3.1.2" && strings.HasPrefix(d.Sum, "h1:")
		}
	}
	if !found {
		t.Errorf("distribution v3.1.2 with its sum not in %s", out)
	}
}

func TestPURL(t *testing.T) {
	for _, tc := range []struct{ path, version, want string }{
		{"github.com/distribution/distribution/v3", "v3.1.2", "pkg:golang/github.com/distribution/distribution/v3@v3.1.2"},
		{"github.com/Nerzal/gocloak/v13", "v13.9.0", "pkg:golang/github.com/Nerzal/gocloak/v13@v13.9.0"},
		{"github.com/old/thing", "v2.0.0+incompatible", "pkg:golang/github.com/old/thing@v2.0.0%2Bincompatible"},
		{"std", "go1.26.8", "pkg:golang/std@go1.26.8"},
		// The go command's placeholder is no version; none is made up.
		{"github.com/registry-stack/registry-stack", "(devel)", "pkg:golang/github.com/registry-stack/registry-stack"},
		{"example.com/a b", "", "pkg:golang/example.com/a%20b"},
		{"", "v1.0.0", ""},
	} {
		if got := purl(tc.path, tc.version); got != tc.want {
			t.Errorf("purl(%q, %q) = %q, want %q", tc.path, tc.version, got, tc.want)
		}
	}
}

type bom struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Version      int    `json:"version"`
	Metadata     struct {
		Timestamp string       `json:"timestamp"`
		Component bomComponent `json:"component"`
	} `json:"metadata"`
	Components []bomComponent `json:"components"`
}

type bomComponent struct {
	Type, Name, Version, PURL string
	BOMRef                    string `json:"bom-ref"`
	Hashes                    []struct{ Alg, Content string }
	Properties                []struct{ Name, Value string }
}

func (c bomComponent) prop(name string) string {
	for _, p := range c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func TestCycloneDX(t *testing.T) {
	serial, err := NewSerial()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(serial) {
		t.Fatalf("serial %q is not a v4 urn:uuid", serial)
	}
	out, err := CycloneDX(fixtureInfo(t), SBOMOptions{
		Serial: serial, Time: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC),
		Binary: Binary{Name: "registry-stack", SHA256: strings.Repeat("ab", 32)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b bom
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if b.BOMFormat != "CycloneDX" || b.SpecVersion != "1.5" || b.SerialNumber != serial || b.Version != 1 || b.Metadata.Timestamp != "2026-12-01T03:00:00Z" {
		t.Errorf("header = %+v", b)
	}
	app := b.Metadata.Component
	if app.Type != "application" || app.Name != "registry-stack" || app.Version != "1.2.3" ||
		app.PURL != "pkg:golang/github.com/registry-stack/registry-stack@v1.2.3" {
		t.Errorf("metadata component = %+v", app)
	}
	if len(app.Hashes) != 1 || app.Hashes[0].Alg != "SHA-256" || app.Hashes[0].Content != strings.Repeat("ab", 32) {
		t.Errorf("binary hash = %+v", app.Hashes)
	}
	for name, want := range map[string]string{
		"registry-stack:go:toolchain":       "go1.26.8 X:nocoverageredesign",
		"registry-stack:build:CGO_ENABLED":  "0",
		"registry-stack:build:trimpath":     "true",
		"registry-stack:build:vcs.revision": "0123456789abcdef0123456789abcdef01234567",
		"registry-stack:build:vcs.modified": "false",
		"registry-stack:build:ldflags":      "-s -w -X main.version=1.2.3",
		"registry-stack:build:GOOS":         "linux",
		"registry-stack:go:module:version":  "v1.2.3",
		"registry-stack:binary:name":        "registry-stack",
		"registry-stack:build:GOARCH":       "amd64",
		"registry-stack:build:vcs.time":     "2026-12-01T03:00:00Z",
		"registry-stack:go:module":          "github.com/registry-stack/registry-stack",
		"registry-stack:build:vcs":          "git",
	} {
		if got := app.prop(name); got != want {
			t.Errorf("property %s = %q, want %q", name, got, want)
		}
	}

	byPURL := map[string]bomComponent{}
	refs := map[string]bool{}
	for _, c := range b.Components {
		if c.Type != "library" || c.Name == "" || !strings.HasPrefix(c.PURL, "pkg:golang/") {
			t.Errorf("component without type, name or purl: %+v", c)
		}
		if refs[c.BOMRef] {
			t.Errorf("bom-ref %q twice", c.BOMRef)
		}
		refs[c.BOMRef] = true
		if len(c.Hashes) != 0 {
			t.Errorf("%s: h1 sums are no CycloneDX hash algorithm, got hashes %+v", c.Name, c.Hashes)
		}
		byPURL[c.PURL] = c
	}
	if len(b.Components) != 6 {
		t.Errorf("components = %d, want 6 (std + 5 modules)", len(b.Components))
	}
	for _, tc := range []struct{ purl, name, version, sum, replaces string }{
		{"pkg:golang/std@go1.26.8", "std", "go1.26.8", "", ""},
		{"pkg:golang/github.com/distribution/distribution/v3@v3.1.2", "github.com/distribution/distribution/v3", "v3.1.2", "h1:/Bv2YIqqSR00HiO49FT93hovy6r9IlrzwUDsJjCN5qg=", ""},
		{"pkg:golang/github.com/Nerzal/gocloak/v13@v13.9.0", "github.com/Nerzal/gocloak/v13", "v13.9.0", "h1:YWsJsdM5b0yhM2Ba3MLydiOlujkBry4TtdzfIzSVZhw=", ""},
		// What was compiled is the fork; the SBOM names it and what it replaces.
		{"pkg:golang/github.com/fork/thing@v2.0.1-0.20260101000000-abcdefabcdef", "github.com/fork/thing", "v2.0.1-0.20260101000000-abcdefabcdef", "h1:Zm9yaw==", "github.com/old/thing@v2.0.0+incompatible"},
		// A directory has no version: the purl claims none.
		{"pkg:golang/example.com/local", "example.com/local", "", "", "example.com/local@v0.1.0"},
	} {
		c, ok := byPURL[tc.purl]
		if !ok {
			t.Errorf("no component %s", tc.purl)
			continue
		}
		if c.Name != tc.name || c.Version != tc.version || c.prop("registry-stack:go:sum") != tc.sum || c.prop("registry-stack:go:replaces") != tc.replaces {
			t.Errorf("component %s = %+v", tc.purl, c)
		}
	}
	if got := byPURL["pkg:golang/example.com/local"].prop("registry-stack:go:replaced-by-directory"); got != "../local" {
		t.Errorf("replaced-by-directory = %q", got)
	}
}

func TestCycloneDXRefusesBadSerial(t *testing.T) {
	for _, serial := range []string{"", "1234", "uuid:0000"} {
		if _, err := CycloneDX(Info{}, SBOMOptions{Serial: serial}); err == nil {
			t.Errorf("serial %q accepted", serial)
		}
	}
}

func TestFileSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bin")
	data := []byte("registry-stack binary")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if got, err := FileSHA256(p); err != nil || got != hex.EncodeToString(want[:]) {
		t.Errorf("FileSHA256 = %q, %v", got, err)
	}
	if _, err := FileSHA256(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestReadRunningBinary(t *testing.T) {
	info, err := Read("test")
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "test" || !strings.HasPrefix(info.GoVersion, "go") {
		t.Errorf("info = %+v", info)
	}
}
