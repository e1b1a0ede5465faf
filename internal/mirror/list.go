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
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/registry-stack/registry-stack/internal/scope"
)

// maxListSize bounds what ParseList reads: a mirror list is a short file.
const maxListSize = 1 << 20

var (
	// validTag is a whole tag as distribution accepts it.
	validTag = regexp.MustCompile(`^` + reference.TagRegexp.String() + `$`)
	// fallbackTag is what the referrers tag schema (and cosign's
	// sha256-<hex>.sig and the like) names tags: bookkeeping of a digest,
	// not something to mirror as a tag of its own.
	fallbackTag = regexp.MustCompile(`^sha(256|512)-[0-9a-f]+(\.\w+)?$`)
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
	b, err := io.ReadAll(io.LimitReader(r, maxListSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxListSize {
		return nil, errors.New("mirror list is larger than 1 MiB")
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
		if err := checkUpstream(s.Repository); err != nil {
			return nil, fmt.Errorf("%s: repository %q: %w", where, s.Repository, err)
		}
		if s.To != "" {
			if err := checkPath(s.To); err != nil {
				return nil, fmt.Errorf("%s: to %q: %w", where, s.To, err)
			}
			// A bundle's names drop a leading "localhost" as a registry
			// host (internal/bundle); any other path is kept as written.
			if first, _, ok := strings.Cut(s.To, "/"); ok && first == "localhost" {
				return nil, fmt.Errorf("%s: to %q: %q names a registry host; to is the repository path at the destination, without a host", where, s.To, first)
			}
		}
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
			if !validTag.MatchString(t) {
				return nil, fmt.Errorf("%s: tag %q is not a tag", where, t)
			}
		}
	}
	return &l, nil
}

// looksLikeHost is the rule docker and distribution's reference parser
// use to tell a registry host from the first path component.
func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// checkUpstream accepts host[:port]/path: the registry is named, as a
// lab never means Docker Hub.
func checkUpstream(s string) error {
	host, path, ok := strings.Cut(s, "/")
	if !ok || !looksLikeHost(host) {
		return errors.New("want host[:port]/path, naming the registry")
	}
	if _, err := name.NewRegistry(host); err != nil {
		return err
	}
	return checkPath(path)
}

// checkPath accepts a repository path without a registry host.
func checkPath(p string) error {
	if err := scope.ValidateRepository(p); err != nil {
		return err
	}
	// ValidateRepository also takes a leading host:port, which a path
	// must not have.
	for c := range strings.SplitSeq(p, "/") {
		if !scope.IsPathComponent(c) {
			return fmt.Errorf("%q is not a path component (a-z, 0-9 and single separators . _ __ -)", c)
		}
	}
	return nil
}

// NeedsListing reports whether selecting tags needs the upstream tag list.
func (s *Source) NeedsListing() bool { return s.constraint != nil || s.regex != nil }

// Skipped is an upstream tag a selector matched but that is not mirrored.
type Skipped struct {
	Tag, Reason string
}

// Select returns the tags to mirror, sorted: the exact tags (whether or not
// upstream lists them; a missing one fails when copied) and those of
// upstream the semver range or the regex select. Upstream tags that are
// not valid tags, or that name referrers fallback indexes, are returned as
// skipped when a selector matched them.
func (s *Source) Select(upstream []string) (tags []string, skipped []Skipped) {
	set := map[string]bool{}
	for _, t := range s.Tags {
		set[t] = true
	}
	for _, t := range upstream {
		match := s.regex != nil && s.regex.MatchString(t)
		if !match && s.constraint != nil {
			v, err := semver.NewVersion(t)
			match = err == nil && s.constraint.Check(v)
		}
		switch {
		case !match || set[t]:
		case fallbackTag.MatchString(t):
			// The referrers come along with their subjects.
			skipped = append(skipped, Skipped{t, "a referrers fallback tag"})
		case !validTag.MatchString(t):
			skipped = append(skipped, Skipped{t, "not a valid tag"})
		default:
			set[t] = true
		}
	}
	tags = make([]string, 0, len(set))
	for t := range set {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	sort.Slice(skipped, func(i, j int) bool { return skipped[i].Tag < skipped[j].Tag })
	return tags, skipped
}
