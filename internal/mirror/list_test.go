package mirror

import (
	"slices"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	upstream := []string{"1.0.0", "1.2.0", "v1.3.1", "2.0.0", "2.0.0-rc1", "latest", "nightly-2024", "sha256-abc"}
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"exact", "tags: [latest, missing]", []string{"latest", "missing"}},
		{"semver range", `semver: ">=1.2, <2"`, []string{"1.2.0", "v1.3.1"}},
		{"semver with prerelease", `semver: ">=2.0.0-0"`, []string{"2.0.0", "2.0.0-rc1"}},
		{"regex", `regex: "^nightly-"`, []string{"nightly-2024"}},
		{"union", "tags: [latest]\nsemver: \"~1.0\"\nregex: \"^2\"", []string{"1.0.0", "2.0.0", "2.0.0-rc1", "latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseList(strings.NewReader("repositories:\n- repository: h:5000/r\n  " + strings.ReplaceAll(tt.yaml, "\n", "\n  ")))
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Repositories[0].Select(upstream); !slices.Equal(got, tt.want) {
				t.Errorf("Select = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseListErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"", "empty mirror list"},
		{"repositories: []", "no repositories"},
		{"repositories:\n- tags: [a]", "repository is required"},
		{"repositories:\n- repository: h/r", "select tags with tags, semver or regex"},
		{"repositories:\n- repository: h/r\n  semver: \"not a range\"", `semver "not a range"`},
		{"repositories:\n- repository: h/r\n  regex: \"(\"", `regex "("`},
		{"repositories:\n- repository: h/r\n  tag: [a]", "field tag not found"},
		{"repositories:\n- repository: h/r\n  tags: [\"a:b\"]", `tag "a:b" is not a tag`},
	}
	for _, tt := range tests {
		_, err := ParseList(strings.NewReader(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseList(%q) = %v, want an error with %q", tt.yaml, err, tt.want)
		}
	}
}
