// Package challenge writes the WWW-Authenticate challenges of the registry
// (Bearer, RFC 6750) and of the token endpoints (Basic, RFC 7617), with
// every parameter an RFC 9110 quoted-string that clients parse back to the
// same text.
package challenge

import (
	"strings"
	"unicode"
)

// Bearer renders the registry's challenge. scope and errCode are left out
// when empty.
func Bearer(realm, service, scope, errCode string) string {
	v := "Bearer realm=" + Quote(realm) + ",service=" + Quote(service)
	if scope != "" {
		v += ",scope=" + Quote(scope)
	}
	if errCode != "" {
		v += ",error=" + Quote(errCode)
	}
	return v
}

// Basic renders a token endpoint's challenge.
func Basic(realm string) string { return "Basic realm=" + Quote(realm) }

// quoted escapes what a quoted-string must escape; Go's %q would also
// escape non-ASCII and non-printable text as \u.. or \x.., which clients
// read as the letters u.. and x.. .
var quoted = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// Quote renders s as a quoted-string. A quoted-string cannot carry control
// characters other than tab, so those become spaces, as net/http does to a
// line break in a header value; callers validate their text so that this
// never changes a value they mean.
func Quote(s string) string {
	if strings.IndexFunc(s, isControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return ' '
			}
			return r
		}, s)
	}
	return `"` + quoted.Replace(s) + `"`
}

// isControl is true for what a header field value must not hold: ASCII
// controls (tab excepted) and DEL. Other bytes are field-vchar or
// obs-text.
func isControl(r rune) bool { return r != '\t' && r < 0x80 && unicode.IsControl(r) }

// HasControl reports whether s holds a character Quote would replace, for
// callers that validate text they are given.
func HasControl(s string) bool { return strings.IndexFunc(s, isControl) >= 0 }
