package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/registry-stack/registry-stack/internal/scope"
)

type unitKind uint8

const (
	litUnit   unitKind = iota
	starUnit           // *: any run of characters within one segment
	questUnit          // ?: one character other than '/'
	userUnit           // ${user}
	groupUnit          // ${group}
)

// unit is one piece of a pattern segment.
type unit struct {
	kind unitKind
	lit  string
}

// segment is one '/'-separated piece of a pattern.
type segment struct {
	anyDepth bool // "**": any number of whole segments, none included
	units    []unit
}

// glob is a compiled repository pattern. Placeholders stay units of their
// own and are compared literally at match time against the subject's value:
// no pattern text is ever built from a user or group name, so a value with
// glob characters in it cannot widen what a pattern matches.
type glob struct {
	text string
	segs []segment
	// literal counts the characters that are neither wildcards nor
	// placeholders, '/' included; a placeholder adds its value's length.
	literal       int
	users, groups int // placeholder occurrences
	// prefix is the leading wholly literal segments joined by '/', suffix
	// the trailing ones: every name the pattern matches starts and ends
	// with them, so most names are turned away by a comparison or two.
	prefix, suffix string
}

// binding holds the values placeholders stand for in one match. Both are
// valid path components (checked by the caller), hence never empty.
type binding struct{ user, group string }

const (
	placeholderUser  = "${user}"
	placeholderGroup = "${group}"
	patternSyntax    = "a-z 0-9 . _ - and /, wildcards * ** ?, placeholders ${user} ${group}"
)

func compileGlob(text string) (*glob, error) {
	if text == "" {
		return nil, fmt.Errorf("pattern must not be empty")
	}
	g := &glob{text: text}
	parts := strings.Split(text, "/")
	for i, s := range parts {
		if i > 0 {
			g.literal++ // the '/'
		}
		seg, err := g.compileSegment(s)
		if err != nil {
			return nil, err
		}
		g.segs = append(g.segs, seg)
	}
	lead := 0
	for lead < len(g.segs) && g.segs[lead].isLiteral() {
		lead++
	}
	trail := len(g.segs)
	for trail > lead && g.segs[trail-1].isLiteral() {
		trail--
	}
	g.prefix = strings.Join(parts[:lead], "/")
	g.suffix = strings.Join(parts[trail:], "/")
	return g, nil
}

func (s *segment) isLiteral() bool { return len(s.units) == 1 && s.units[0].kind == litUnit }

func (g *glob) compileSegment(s string) (segment, error) {
	switch {
	case s == "":
		return segment{}, fmt.Errorf("empty path segment (a leading, trailing or doubled '/')")
	case s == "**":
		return segment{anyDepth: true}, nil
	}
	var seg segment
	lit := func() *unit {
		if n := len(seg.units); n > 0 && seg.units[n-1].kind == litUnit {
			return &seg.units[n-1]
		}
		seg.units = append(seg.units, unit{kind: litUnit})
		return &seg.units[len(seg.units)-1]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '*' && i+1 < len(s) && s[i+1] == '*':
			return segment{}, fmt.Errorf("** must be a whole path segment (as in team-a/** or **/cache), not part of %q", s)
		case c == '*':
			seg.units = append(seg.units, unit{kind: starUnit})
		case c == '?':
			seg.units = append(seg.units, unit{kind: questUnit})
		case strings.HasPrefix(s[i:], placeholderUser):
			seg.units = append(seg.units, unit{kind: userUnit})
			g.users++
			i += len(placeholderUser) - 1
		case strings.HasPrefix(s[i:], placeholderGroup):
			seg.units = append(seg.units, unit{kind: groupUnit})
			g.groups++
			i += len(placeholderGroup) - 1
		case c == '$':
			return segment{}, fmt.Errorf("%q is not a placeholder (there are ${user} and ${group})", placeholderAt(s[i:]))
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
			lit().lit += string(c)
			g.literal++
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return segment{}, fmt.Errorf("%q cannot appear in a pattern (allowed: %s)", r, patternSyntax)
		}
	}
	// A segment without wildcards or placeholders must itself be a name
	// component, or the pattern is a typo that silently matches nothing.
	if seg.isLiteral() && !scope.IsPathComponent(s) {
		return segment{}, fmt.Errorf("segment %q can never match a repository name (components are a-z 0-9 joined by single . _ __ or -)", s)
	}
	return seg, nil
}

// placeholderAt returns the "${...}" (or lone "$...") text at the start of
// s, for an error message.
func placeholderAt(s string) string {
	if end := strings.IndexByte(s, '}'); end >= 0 && strings.HasPrefix(s, "${") {
		return s[:end+1]
	}
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// score is how specific the pattern is once b is substituted.
func (g *glob) score(b binding) int {
	return g.literal + g.users*len(b.user) + g.groups*len(b.group)
}

// match reports whether name matches. It is the classic greedy wildcard
// algorithm run over segments, with "**" as the star: only the last "**"
// seen ever needs to give back segments, because every other pattern segment
// consumes exactly one name segment. That keeps matching linear-ish in the
// name and free of allocation, whatever the pattern.
func (g *glob) match(name string, b binding) bool {
	if !strings.HasPrefix(name, g.prefix) || !strings.HasSuffix(name, g.suffix) {
		return false
	}
	end := len(name) + 1 // start of the segment after the last one
	i, p := 0, 0
	starI, starP := -1, 0
	for {
		if i < len(g.segs) {
			if g.segs[i].anyDepth {
				starI, starP = i, p
				i++
				continue
			}
			if p < end {
				q := segmentEnd(name, p)
				if g.segs[i].match(name[p:q], b) {
					i++
					p = q + 1
					continue
				}
			}
		} else if p == end {
			return true
		}
		if starI < 0 || starP >= end {
			return false
		}
		starP = segmentEnd(name, starP) + 1
		i, p = starI+1, starP
	}
}

// matchUnder reports whether the pattern could match a name that starts
// with prefix+"/" (any name at all for the empty prefix), that is prefix
// followed by one or more segments. prefix is a repository name or empty.
// The pattern's segments are held against the prefix's in turn: a "**"
// reached there can take any of the rest, a pattern that ends with the
// prefix, or before it, matches nothing below it.
func (g *glob) matchUnder(prefix string, b binding) bool {
	// Such a name starts with both g.prefix and prefix, so the shorter
	// is the start of the longer: most patterns are turned away here.
	if n := min(len(g.prefix), len(prefix)); g.prefix[:n] != prefix[:n] {
		return false
	}
	i := 0
	for p := 0; p < len(prefix); i++ {
		if i == len(g.segs) {
			return false
		}
		if g.segs[i].anyDepth {
			return true
		}
		q := segmentEnd(prefix, p)
		if !g.segs[i].match(prefix[p:q], b) {
			return false
		}
		p = q + 1
	}
	return i < len(g.segs)
}

func segmentEnd(name string, p int) int {
	if q := strings.IndexByte(name[p:], '/'); q >= 0 {
		return p + q
	}
	return len(name)
}

// match reports whether one name segment (no '/') matches; the same greedy
// algorithm, with '*' as the star.
func (s *segment) match(seg string, b binding) bool {
	u := s.units
	i, p := 0, 0
	starI, starP := -1, 0
	for {
		if i < len(u) {
			switch u[i].kind {
			case starUnit:
				starI, starP = i, p
				i++
				continue
			case questUnit:
				if p < len(seg) {
					i++
					p++
					continue
				}
			default:
				lit := u[i].value(b)
				if strings.HasPrefix(seg[p:], lit) {
					i++
					p += len(lit)
					continue
				}
			}
		} else if p == len(seg) {
			return true
		}
		if starI < 0 || starP >= len(seg) {
			return false
		}
		starP++
		i, p = starI+1, starP
	}
}

func (u unit) value(b binding) string {
	switch u.kind {
	case userUnit:
		return b.user
	case groupUnit:
		return b.group
	}
	return u.lit
}
