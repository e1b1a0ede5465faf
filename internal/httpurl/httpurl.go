// Package httpurl holds the one rule for the http(s) URLs registry-stack is
// configured with: Keycloak's base URL, the public URL, the pinned issuer and
// browser origins. Every package that takes such a URL validates it here, so
// a setting accepted in one place is never refused in another.
package httpurl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ParseBase parses an absolute http or https base URL: a host, no
// credentials, no query, no fragment. A trailing slash is dropped so that
// joined paths never contain "//". Errors quote the URL (with any password
// redacted) and say what is wrong with it; callers prefix the setting name.
func ParseBase(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("must be set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the input, which may hold a password: say only
		// what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("is not a URL: %v", err)
	}
	if err := Check(u); err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Check applies ParseBase's rule to a URL that is already parsed, for
// constructors that take a *url.URL.
func Check(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("must be set")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must start with http:// or https://", shown(u))
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host", shown(u))
	case u.User != nil:
		return fmt.Errorf("%q must not carry credentials", shown(u))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("%q must not carry a query or fragment", shown(u))
	case hasOddSegment(u.Path):
		// Joining a path to it would resolve them away, to another URL.
		return fmt.Errorf("%q must not have empty, . or .. path segments", shown(u))
	}
	return nil
}

// shown is u as an error may quote it: its password, query and fragment,
// any of which may carry a secret, are marked but not repeated.
func shown(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	s := c.Redacted()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	if u.Fragment != "" || u.RawFragment != "" {
		s += "#…"
	}
	return s
}

func hasOddSegment(p string) bool {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	if p == "" {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// ParseOrigin parses a browser origin such as https://ui.example.com and
// returns it in the form browsers send in the Origin header: lower-case
// scheme and host, no trailing slash, default ports dropped.
func ParseOrigin(raw string) (string, error) {
	u, err := ParseBase(raw)
	if err != nil {
		return "", err
	}
	if u.Path != "" {
		return "", fmt.Errorf("%q is not an origin like https://ui.example.com (no path, no wildcards)", raw)
	}
	if strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("%q is not an origin like https://ui.example.com (no path, no wildcards)", raw)
	}
	// Browsers send the Origin header's host in ASCII (an international
	// name as punycode), and lower-casing some non-ASCII letters (İ) is
	// not even reversible: such an origin could never match.
	for _, c := range []byte(u.Hostname()) {
		if c >= 0x80 {
			return "", fmt.Errorf("%q: write the host name in ASCII, as browsers send it (punycode for an international name)", raw)
		}
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}
