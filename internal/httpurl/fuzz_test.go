package httpurl

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseBase checks the configured-URL rule: an accepted URL passes
// Check, means what it says once normalised (no dot segments that a join
// would resolve away, no escaped slash turned into a separator), and
// normalising is idempotent; an accepted origin is its own origin.
func FuzzParseBase(f *testing.F) {
	for _, s := range []string{
		"https://kc.example.test", "http://kc.example.test:8080/auth/", "HTTPS://KC.example.test",
		"http://[::1]:80", "https://u:secret@kc.example.test", "https://kc.example.test?x=1",
		"https://kc.example.test/a/../b", "https://kc.example.test/%2e%2e", "https://kc.example.test/a%2Fb",
		"https://kc.example.test/ä", "https://*.example.com", "https:kc", "//kc.example.test", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseBase(raw)
		if err != nil {
			// An error quotes the URL, never its password.
			if pu, perr := url.Parse(raw); perr == nil && pu.User != nil {
				if pw, ok := pu.User.Password(); ok && pw != "" && strings.Contains(err.Error(), ":"+pw+"@") {
					t.Fatalf("ParseBase(%q) error shows the password: %v", raw, err)
				}
			}
			return
		}
		if err := Check(u); err != nil {
			t.Fatalf("ParseBase(%q) = %s, which Check refuses: %v", raw, u, err)
		}
		s := u.String()
		again, err := ParseBase(s)
		if err != nil || again.String() != s {
			t.Fatalf("ParseBase(%q) = %s, but ParseBase of that = %v, %v", raw, s, again, err)
		}
		if joined := u.JoinPath("x").String(); joined != s+"/x" {
			t.Fatalf("ParseBase(%q) = %s, joined with x: %s", raw, s, joined)
		}
		if o, err := ParseOrigin(raw); err == nil {
			if again, err := ParseOrigin(o); err != nil || again != o {
				t.Fatalf("ParseOrigin(%q) = %s, ParseOrigin of that = %q, %v", raw, o, again, err)
			}
			if ou, err := url.Parse(o); err != nil || ou.Path != "" || !strings.EqualFold(ou.Hostname(), u.Hostname()) {
				t.Fatalf("ParseOrigin(%q) = %s, not the origin of %s (%v)", raw, o, u, err)
			}
		}
	})
}
