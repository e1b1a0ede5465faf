// Package buildinfo describes what a registry-stack binary was built from,
// read from the build info the Go linker embeds: the module versions that
// were compiled in (not go.mod's wishes) and the build settings that
// decide what ships. It renders that as JSON for `version --json` and as a
// CycloneDX SBOM for `version --cyclonedx`.
package buildinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Module is one Go module compiled into the binary.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	// Sum is the go.sum h1 hash of the module's content.
	Sum string `json:"sum,omitempty"`
	// Replace is the module actually compiled in place of this one.
	Replace *Module `json:"replace,omitempty"`
}

// Settings are the build settings a security review asks about; a
// setting the build did not record stays empty.
type Settings struct {
	GOOS        string `json:"goos,omitempty"`
	GOARCH      string `json:"goarch,omitempty"`
	CGOEnabled  string `json:"cgo_enabled,omitempty"`
	Trimpath    string `json:"trimpath,omitempty"`
	Ldflags     string `json:"ldflags,omitempty"`
	VCS         string `json:"vcs,omitempty"`
	VCSRevision string `json:"vcs_revision,omitempty"`
	VCSTime     string `json:"vcs_time,omitempty"`
	VCSModified string `json:"vcs_modified,omitempty"`
}

// Info is the bill of materials of one binary.
type Info struct {
	// Version is the release version (-X main.version, or derived from
	// the VCS revision); Main.Version is what the go command stamped.
	Version   string   `json:"version"`
	Main      Module   `json:"main"`
	GoVersion string   `json:"go_version"`
	Settings  Settings `json:"settings"`
	Deps      []Module `json:"deps"`
}

// Read returns the running binary's build info.
func Read(version string) (Info, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{}, errors.New("build info: the binary carries none (not built in module mode)")
	}
	return FromBuildInfo(bi, version), nil
}

// FromBuildInfo converts the linker's build info; version is the release
// version the caller knows.
func FromBuildInfo(bi *debug.BuildInfo, version string) Info {
	info := Info{
		Version:   version,
		Main:      module(&bi.Main),
		GoVersion: bi.GoVersion,
		Deps:      make([]Module, 0, len(bi.Deps)),
	}
	for _, d := range bi.Deps {
		if d != nil {
			info.Deps = append(info.Deps, module(d))
		}
	}
	for _, s := range bi.Settings {
		if p := info.Settings.field(s.Key); p != nil {
			*p = s.Value
		}
	}
	return info
}

func module(m *debug.Module) Module {
	out := Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		r := module(m.Replace)
		out.Replace = &r
	}
	return out
}

// field maps a build setting key to where Settings keeps it.
func (s *Settings) field(key string) *string {
	switch key {
	case "GOOS":
		return &s.GOOS
	case "GOARCH":
		return &s.GOARCH
	case "CGO_ENABLED":
		return &s.CGOEnabled
	case "-trimpath":
		return &s.Trimpath
	case "-ldflags":
		return &s.Ldflags
	case "vcs":
		return &s.VCS
	case "vcs.revision":
		return &s.VCSRevision
	case "vcs.time":
		return &s.VCSTime
	case "vcs.modified":
		return &s.VCSModified
	}
	return nil
}

// JSON renders info for `version --json`.
func (i Info) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(i, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("build info: %w", err)
	}
	return append(out, '\n'), nil
}

// FileSHA256 returns the hex SHA-256 of the file at path, streamed.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash binary %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
