package mirror

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"
)

// List is a mirror list: the upstream repositories to follow.
type List struct {
	Repositories []Source `yaml:"repositories"`
}

// Source is one upstream repository and which of its tags to follow: the
// union of the exact tags, the tags that are versions in the semver range,
// and the tags the regular expression matches.
type Source struct {
	// Repository is host[:port]/path of the upstream repository.
	Repository string   `yaml:"repository"`
	Tags       []string `yaml:"tags"`
	Semver     string   `yaml:"semver"`
	Regex      string   `yaml:"regex"`
	// To is the repository path at the destination; default: the
	// upstream path.
	To string `yaml:"to"`

	constraint *semver.Constraints
	regex      *regexp.Regexp
}

// ParseList reads a mirror list in YAML; unknown keys are errors, so a
// misspelt selector never silently selects nothing.
func ParseList(r io.Reader) (*List, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var l List
	if err := dec.Decode(&l); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty mirror list: want repositories: [{repository: host:port/repo, tags: [...]}]")
		}
		return nil, err
	}
	if len(l.Repositories) == 0 {
		return nil, errors.New("no repositories listed")
	}
	for i := range l.Repositories {
		s := &l.Repositories[i]
		where := fmt.Sprintf("repositories[%d]", i)
		if s.Repository == "" {
			return nil, fmt.Errorf("%s: repository is required", where)
		}
		where += " (" + s.Repository + ")"
		if len(s.Tags) == 0 && s.Semver == "" && s.Regex == "" {
			return nil, fmt.Errorf("%s: select tags with tags, semver or regex", where)
		}
		if s.Semver != "" {
			if s.constraint, err = semver.NewConstraint(s.Semver); err != nil {
				return nil, fmt.Errorf("%s: semver %q: %w", where, s.Semver, err)
			}
		}
		if s.Regex != "" {
			if s.regex, err = regexp.Compile(s.Regex); err != nil {
				return nil, fmt.Errorf("%s: regex %q: %w", where, s.Regex, err)
			}
		}
		for _, t := range s.Tags {
			if t == "" || strings.ContainsAny(t, ":@/ ") {
				return nil, fmt.Errorf("%s: tag %q is not a tag", where, t)
			}
		}
	}
	return &l, nil
}

// NeedsListing reports whether selecting tags needs the upstream tag list.
func (s *Source) NeedsListing() bool { return s.constraint != nil || s.regex != nil }

// Select returns the tags to mirror, sorted: the exact tags (whether or not
// upstream lists them; a missing one fails when copied) and those of
// upstream the semver range or the regex select.
func (s *Source) Select(upstream []string) []string {
	set := map[string]bool{}
	for _, t := range s.Tags {
		set[t] = true
	}
	for _, t := range upstream {
		if s.regex != nil && s.regex.MatchString(t) {
			set[t] = true
		}
		if s.constraint != nil {
			if v, err := semver.NewVersion(t); err == nil && s.constraint.Check(v) {
				set[t] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
