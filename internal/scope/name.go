package scope

import (
	"errors"
	"strings"

	"github.com/distribution/reference"
)

// ValidateRepository accepts exactly the repository names distribution
// serves: reference.WithName's grammar (lower-case path components joined
// by '/', optionally behind a "host[:port]/" component) with at most
// reference.RepositoryNameTotalLengthMax characters after that host.
//
// It is written out by hand rather than calling reference.WithName because
// the catalog filter checks every name it lists, and the regexp costs some
// 25 times as much; FuzzValidateRepository keeps the two in agreement.
func ValidateRepository(name string) error {
	const maxLen = reference.RepositoryNameTotalLengthMax
	if name == "" {
		return errors.New("repository name must not be empty")
	}
	remote := isRemoteName(name)
	if remote && len(name) <= maxLen {
		return nil // the common case, settled without looking for a host
	}
	// The host component is optional in the grammar and the regexp prefers
	// taking it; only what follows it counts against the limit.
	if host, rest, ok := strings.Cut(name, "/"); ok && isHostPort(host) && isRemoteName(rest) {
		if len(rest) > maxLen {
			return reference.ErrNameTooLong
		}
		return nil
	}
	if remote {
		return reference.ErrNameTooLong
	}
	return errors.New("repository name must be lower-case path components (a-z, 0-9 and single separators . _ __ -) joined by '/'")
}

// IsPathComponent reports whether s is one path component of a repository
// name: [a-z0-9]+ joined by one '.', one or two '_', or any number of '-'.
func IsPathComponent(s string) bool { return scanComponents(s, false) }

func isRemoteName(s string) bool { return scanComponents(s, true) }

// scanComponents checks s in one pass: runs of [a-z0-9] joined by
// separators, and by '/' when slash is set.
func scanComponents(s string, slash bool) bool {
	i := 0
	for {
		start := i
		for i < len(s) && isAlnum(s[i]) {
			i++
		}
		if i == start {
			return false // empty name, or a separator not between alphanumerics
		}
		if i == len(s) {
			return true
		}
		switch s[i] {
		case '.':
			i++
		case '_':
			i++
			if i < len(s) && s[i] == '_' {
				i++
			}
		case '-':
			for i < len(s) && s[i] == '-' {
				i++
			}
		case '/':
			if !slash {
				return false
			}
			i++
		default:
			return false
		}
	}
}

func isAlnum(c byte) bool { return isLower(c) || isDigit(c) }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

// isHostPort matches distribution's domainAndPort: a DNS-like name (upper
// case allowed) or a bracketed IPv6 address, then an optional ":port".
func isHostPort(s string) bool {
	host := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		port := s[i+1:]
		if port == "" || !all(port, isDigit) {
			return false
		}
		host = s[:i]
	}
	if strings.HasPrefix(host, "[") {
		addr, ok := strings.CutSuffix(host[1:], "]")
		return ok && addr != "" && all(addr, func(c byte) bool { return isHex(c) || c == ':' })
	}
	for {
		label, rest, more := strings.Cut(host, ".")
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' ||
			!all(label, isHostChar) {
			return false
		}
		if !more {
			return true
		}
		host = rest
	}
}

// all reports whether every byte of s satisfies ok. (strings.Trim with a
// cutset would build a lookup table on every call; this is called for
// every name the catalog lists.)
func all(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isHex(c byte) bool      { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isHostChar(c byte) bool { return isAlnum(c) || 'A' <= c && c <= 'Z' || c == '-' }
