package buildinfo

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SpecVersion is the CycloneDX specification the SBOM follows.
const SpecVersion = "1.5"

// propPrefix namespaces our properties: CycloneDX has no hash algorithm
// for go.sum's h1 (a hash over a file list, not over one file), so the
// h1 sums travel as properties rather than as fake "hashes".
const propPrefix = "registry-stack:"

// Binary is the file the SBOM describes.
type Binary struct {
	Name   string // file name, e.g. "registry-stack"
	SHA256 string // hex SHA-256 of the file
}

// SBOMOptions are the parts of an SBOM that are not in the build info.
type SBOMOptions struct {
	Serial string    // "urn:uuid:…", see NewSerial
	Time   time.Time // when the SBOM was made
	Binary Binary
}

type cdxBOM struct {
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	SerialNumber string         `json:"serialNumber"`
	Version      int            `json:"version"`
	Metadata     cdxMetadata    `json:"metadata"`
	Components   []cdxComponent `json:"components"`
}

type cdxMetadata struct {
	Timestamp string       `json:"timestamp"`
	Tools     cdxTools     `json:"tools"`
	Component cdxComponent `json:"component"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	Type       string        `json:"type"`
	BOMRef     string        `json:"bom-ref,omitempty"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	PURL       string        `json:"purl,omitempty"`
	Hashes     []cdxHash     `json:"hashes,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CycloneDX renders info as a CycloneDX JSON SBOM: the binary as the
// metadata component, every compiled-in module and the Go standard
// library as library components.
func CycloneDX(info Info, opt SBOMOptions) ([]byte, error) {
	if !strings.HasPrefix(opt.Serial, "urn:uuid:") {
		return nil, fmt.Errorf("cyclonedx: serial number %q is not a urn:uuid", opt.Serial)
	}
	goVersion, _, _ := strings.Cut(info.GoVersion, " ")
	app := cdxComponent{
		Type:    "application",
		Name:    "registry-stack",
		Version: info.Version,
		PURL:    purl(info.Main.Path, info.Main.Version),
	}
	if app.Version == "" {
		app.Version = info.Main.Version
	}
	app.BOMRef = app.PURL
	if opt.Binary.SHA256 != "" {
		app.Hashes = []cdxHash{{Alg: "SHA-256", Content: opt.Binary.SHA256}}
	}
	props := []struct{ name, value string }{
		{"binary:name", opt.Binary.Name},
		{"go:module", info.Main.Path},
		{"go:module:version", info.Main.Version},
		{"go:toolchain", info.GoVersion},
		{"build:GOOS", info.Settings.GOOS},
		{"build:GOARCH", info.Settings.GOARCH},
		{"build:CGO_ENABLED", info.Settings.CGOEnabled},
		{"build:trimpath", info.Settings.Trimpath},
		{"build:ldflags", info.Settings.Ldflags},
		{"build:vcs", info.Settings.VCS},
		{"build:vcs.revision", info.Settings.VCSRevision},
		{"build:vcs.time", info.Settings.VCSTime},
		{"build:vcs.modified", info.Settings.VCSModified},
	}
	for _, p := range props {
		if p.value != "" {
			app.Properties = append(app.Properties, cdxProperty{propPrefix + p.name, p.value})
		}
	}

	comps := make([]cdxComponent, 0, len(info.Deps)+1)
	if goVersion != "" {
		// The standard library is compiled in like any module.
		std := cdxComponent{Type: "library", Name: "std", Version: goVersion, PURL: purl("std", goVersion)}
		std.BOMRef = std.PURL
		comps = append(comps, std)
	}
	for _, d := range info.Deps {
		comps = append(comps, component(d))
	}

	bom := cdxBOM{
		BOMFormat:    "CycloneDX",
		SpecVersion:  SpecVersion,
		SerialNumber: opt.Serial,
		Version:      1,
		Metadata: cdxMetadata{
			Timestamp: opt.Time.UTC().Format(time.RFC3339),
			Tools: cdxTools{Components: []cdxComponent{{
				Type: "application", Name: "registry-stack", Version: app.Version,
			}}},
			Component: app,
		},
		Components: comps,
	}
	out, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cyclonedx: %w", err)
	}
	return append(out, '\n'), nil
}

// component describes the module actually compiled in: a replacement
// takes the place of the module it replaces, and says so.
func component(d Module) cdxComponent {
	c := cdxComponent{Type: "library", Name: d.Path, Version: d.Version, PURL: purl(d.Path, d.Version)}
	sum := d.Sum
	if r := d.Replace; r != nil {
		c.Properties = append(c.Properties, cdxProperty{propPrefix + "go:replaces", strings.TrimSuffix(d.Path+"@"+d.Version, "@")})
		sum = r.Sum
		if r.Version != "" {
			c.Name, c.Version, c.PURL = r.Path, r.Version, purl(r.Path, r.Version)
		} else {
			// A local directory: no version can name that content.
			c.Version, c.PURL = "", purl(d.Path, "")
			c.Properties = append(c.Properties, cdxProperty{propPrefix + "go:replaced-by-directory", r.Path})
		}
	}
	if sum != "" {
		c.Properties = append(c.Properties, cdxProperty{propPrefix + "go:sum", sum})
	}
	c.BOMRef = c.PURL
	if d.Replace != nil && d.Replace.Version == "" {
		// Several modules could be replaced by directories; keep refs unique.
		c.BOMRef = c.PURL + "#" + d.Replace.Path
	}
	return c
}

// purl is the package URL of a Go module: pkg:golang/<path>@<version>.
// A version that is not a module version ("(devel)", "") is left out
// rather than made up.
func purl(path, version string) string {
	if path == "" {
		return ""
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = escape(s)
	}
	p := "pkg:golang/" + strings.Join(segs, "/")
	if strings.HasPrefix(version, "v") || strings.HasPrefix(version, "go") {
		p += "@" + escape(version)
	}
	return p
}

// escape percent-encodes everything but the characters a purl keeps as
// they are ('+' of "+incompatible" becomes %2B).
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// NewSerial returns a random (version 4) UUID as a urn:uuid.
func NewSerial() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", fmt.Errorf("serial number: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}
