package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/registry-stack/registry-stack/internal/buildinfo"
	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// The real binary reports the modules it was built from, with go.mod's
// versions of the ones the stack is built on.
func TestVersionJSON(t *testing.T) {
	code, stdout, stderr := stackrun.RunCLI(t, nil, "version", "--json")
	if code != 0 {
		t.Fatalf("version --json: exit %d: %s", code, stderr)
	}
	var info buildinfo.Info
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, stdout)
	}
	if info.Main.Path != "github.com/registry-stack/registry-stack" || !strings.HasPrefix(info.GoVersion, "go1.") || info.Version == "" {
		t.Errorf("main = %+v, go = %q, version = %q", info.Main, info.GoVersion, info.Version)
	}
	if info.Settings.GOOS == "" || info.Settings.GOARCH == "" || info.Settings.CGOEnabled == "" {
		t.Errorf("build settings missing: %+v", info.Settings)
	}
	want := map[string]string{
		"github.com/distribution/distribution/v3": "v3.1.2",
		"github.com/Nerzal/gocloak/v13":           "v13.9.0",
		"github.com/gorilla/mux":                  "v1.8.1",
	}
	for _, d := range info.Deps {
		if v, ok := want[d.Path]; ok {
			if d.Version != v || !strings.HasPrefix(d.Sum, "h1:") {
				t.Errorf("%s = %s %q, want %s with its h1 sum", d.Path, d.Version, d.Sum, v)
			}
			delete(want, d.Path)
		}
	}
	if len(want) > 0 {
		t.Errorf("not in version --json: %v", want)
	}

	// The plain form stays one line.
	code, stdout, _ = stackrun.RunCLI(t, nil, "version")
	if code != 0 || !regexp.MustCompile(`^registry-stack \S+\n$`).MatchString(stdout) {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
	if code, _, stderr = stackrun.RunCLI(t, nil, "version", "--json", "--cyclonedx"); code != 2 || !strings.Contains(stderr, "at most one") {
		t.Errorf("version --json --cyclonedx: exit %d, %q", code, stderr)
	}
}

// The SBOM is structurally CycloneDX and its binary hash is the file's.
func TestVersionCycloneDX(t *testing.T) {
	code, stdout, stderr := stackrun.RunCLI(t, nil, "version", "--cyclonedx")
	if code != 0 {
		t.Fatalf("version --cyclonedx: exit %d: %s", code, stderr)
	}
	var bom struct {
		BOMFormat    string `json:"bomFormat"`
		SpecVersion  string `json:"specVersion"`
		SerialNumber string `json:"serialNumber"`
		Version      int    `json:"version"`
		Metadata     struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Type, Name, Version, PURL string
				Hashes                    []struct{ Alg, Content string }
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Type, Name, Version, PURL string
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(stdout), &bom); err != nil {
		t.Fatalf("version --cyclonedx is not JSON: %v\n%s", err, stdout)
	}
	if bom.BOMFormat != "CycloneDX" || (bom.SpecVersion != "1.5" && bom.SpecVersion != "1.6") || bom.Version < 1 || bom.Metadata.Timestamp == "" {
		t.Errorf("header = %s %s v%d at %q", bom.BOMFormat, bom.SpecVersion, bom.Version, bom.Metadata.Timestamp)
	}
	if !regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(bom.SerialNumber) {
		t.Errorf("serialNumber = %q", bom.SerialNumber)
	}
	app := bom.Metadata.Component
	sum, err := buildinfo.FileSHA256(stackrun.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if app.Type != "application" || app.Name != "registry-stack" || app.Version == "" ||
		len(app.Hashes) != 1 || app.Hashes[0].Alg != "SHA-256" || app.Hashes[0].Content != sum {
		t.Errorf("metadata component = %+v, binary SHA-256 %s", app, sum)
	}
	if len(bom.Components) < 10 {
		t.Fatalf("components = %d", len(bom.Components))
	}
	seen := map[string]bool{}
	for _, c := range bom.Components {
		if c.Type != "library" || c.Name == "" || !strings.HasPrefix(c.PURL, "pkg:golang/") {
			t.Errorf("component = %+v", c)
		}
		seen[c.PURL] = true
	}
	for _, p := range []string{
		"pkg:golang/github.com/distribution/distribution/v3@v3.1.2",
		"pkg:golang/github.com/Nerzal/gocloak/v13@v13.9.0",
		"pkg:golang/github.com/gorilla/mux@v1.8.1",
	} {
		if !seen[p] {
			t.Errorf("no component %s", p)
		}
	}
}
