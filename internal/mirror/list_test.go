package mirror

import (
	"slices"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	upstream := []string{"1.0.0", "1.2.0", "v1.3.1", "2.0.0", "2.0.0-rc1", "latest", "nightly-2024",
		"sha256-" + strings.Repeat("ab", 32), "sha512-" + strings.Repeat("cd", 64) + ".sig", "-bad", "sha256-notes"}
	tests := []struct {
		name    string
		yaml    string
		want    []string
		skipped []Skipped
	}{
		{"exact", "tags: [latest, missing]", []string{"latest", "missing"}, nil},
		{"semver range", `semver: ">=1.2, <2"`, []string{"1.2.0", "v1.3.1"}, nil},
		{"semver with prerelease", `semver: ">=2.0.0-0"`, []string{"2.0.0", "2.0.0-rc1"}, nil},
		{"regex", `regex: "^nightly-"`, []string{"nightly-2024"}, nil},
		{"union", "tags: [latest]\nsemver: \"~1.0\"\nregex: \"^2\"", []string{"1.0.0", "2.0.0", "2.0.0-rc1", "latest"}, nil},
		{"broad regex skips fallback tags and invalid ones", `regex: "^(sha|-)"`, []string{"sha256-notes"}, []Skipped{
			{"-bad", "not a valid tag"},
			{"sha256-" + strings.Repeat("ab", 32), "a referrers fallback tag"},
			{"sha512-" + strings.Repeat("cd", 64) + ".sig", "a referrers fallback tag"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseList(strings.NewReader("repositories:\n- repository: h:5000/r\n  " + strings.ReplaceAll(tt.yaml, "\n", "\n  ")))
			if err != nil {
				t.Fatal(err)
			}
			got, skipped := l.Repositories[0].Select(upstream)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Select = %v, want %v", got, tt.want)
			}
			if !slices.Equal(skipped, tt.skipped) {
				t.Errorf("Select skipped %v, want %v", skipped, tt.skipped)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct{ repository, to, wantTo string }{
		{"h:5000/r", "", ""},
		{"registry.lab/team/app", "lab/app", "lab/app"},
		{"localhost/a.b/c__d", "x", "x"},
		{"[::1]:5000/r", "a-b/c.d", "a-b/c.d"},
	}
	for _, tt := range tests {
		y := "repositories:\n- repository: \"" + tt.repository + "\"\n  tags: [a]\n"
		if tt.to != "" {
			y += "  to: " + tt.to + "\n"
		}
		l, err := ParseList(strings.NewReader(y))
		if err != nil {
			t.Errorf("ParseList(%q): %v", y, err)
			continue
		}
		if s := l.Repositories[0]; s.Repository != tt.repository || s.To != tt.wantTo {
			t.Errorf("ParseList(%q) = %+v", y, s)
		}
	}
}

func TestParseListErrors(t *testing.T) {
	const entry = "repositories:\n- repository: h:5000/r\n  tags: [a]\n"
	tests := []struct{ yaml, want string }{
		{"", "empty mirror list"},
		{"repositories: []", "no repositories"},
		{"repositories:\n- tags: [a]", "repository is required"},
		{"repositories:\n- repository: h:5000/r", "select tags with tags, semver or regex"},
		{"repositories:\n- repository: h:5000/r\n  semver: \"not a range\"", `semver "not a range"`},
		{"repositories:\n- repository: h:5000/r\n  regex: \"(\"", `regex "("`},
		{"repositories:\n- repository: h:5000/r\n  tag: [a]", "field tag not found"},
		{"repositories:\n- repository: h:5000/r\n  tags: [\"a:b\"]", `tag "a:b" is not a tag`},
		{"repositories:\n- repository: h:5000/r\n  tags: [\"-a\"]", `tag "-a" is not a tag`},
		// repository
		{"repositories:\n- repository: team/app\n  tags: [a]", `repositories[0] (team/app): repository "team/app": want host[:port]/path`},
		{"repositories:\n- repository: h:5000\n  tags: [a]", `repository "h:5000": want host[:port]/path`},
		{"repositories:\n- repository: h:5000/Team/app\n  tags: [a]", `repository "h:5000/Team/app": "Team" is not a path component`},
		{"repositories:\n- repository: h:5000/h:6000/app\n  tags: [a]", `repository "h:5000/h:6000/app": "h:6000" is not a path component`},
		{"repositories:\n- repository: h:5000/a//b\n  tags: [a]", `repository "h:5000/a//b"`},
		{"repositories:\n- repository: \"h:x/r\"\n  tags: [a]", `repository "h:x/r"`},
		// to
		{entry + "  to: Lab/App", `repositories[0] (h:5000/r): to "Lab/App": repository name must be lower-case`},
		{entry + "  to: lab:5000/app", `to "lab:5000/app": "lab:5000" is not a path component`},
		{entry + "  to: localhost/app", `to "localhost/app": "localhost" names a registry host`},
		{entry + "  to: /app", `to "/app"`},
		{entry + "  to: \"app:1\"", `to "app:1"`},
		{entry + "  to: " + strings.Repeat("a", 256), `to "aaaa`},
		{entry + "- repository: h:5000/s\n  tags: [a]\n  to: a/", `repositories[1] (h:5000/s): to "a/"`},
		// size
		{entry + "# " + strings.Repeat("x", 1<<20), "mirror list is larger than 1 MiB"},
	}
	for _, tt := range tests {
		_, err := ParseList(strings.NewReader(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			y := tt.yaml
			if len(y) > 200 {
				y = y[:200] + "..."
			}
			t.Errorf("ParseList(%q) = %v, want an error with %q", y, err, tt.want)
		}
	}
	// Exactly 1 MiB is still read whole.
	y := entry + "# "
	y += strings.Repeat("x", 1<<20-len(y))
	if _, err := ParseList(strings.NewReader(y)); err != nil {
		t.Errorf("ParseList of a list of exactly 1 MiB: %v", err)
	}
}
