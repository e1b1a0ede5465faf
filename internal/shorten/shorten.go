// Package shorten clips untrusted text (a token's key id, an upstream error
// body) before it goes into a log line or an error message, so a hostile
// client or server cannot flood either.
package shorten

import "unicode/utf8"

// Text returns s unchanged when it has at most n bytes, else its first n
// bytes, cut back to a whole UTF-8 character, followed by "…".
func Text(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
