package challenge

import (
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// answerWith is an http.RoundTripper that answers every request with a 401
// carrying the challenge, so that a real client's challenge parser reads
// it without a network.
type answerWith string

func (c answerWith) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{}
	h.Add("WWW-Authenticate", string(c))
	return &http.Response{StatusCode: http.StatusUnauthorized, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// parse reads a challenge the way go-containerregistry (crane, ko, oras's
// Go users) and docker's distribution client do.
func parse(t *testing.T, header string) (string, map[string]string) {
	t.Helper()
	reg, err := name.NewRegistry("registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	c, err := transport.Ping(context.Background(), reg, answerWith(header))
	if err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return c.Scheme, c.Parameters
}

func TestBearer(t *testing.T) {
	tests := []struct {
		realm, service, scope, errCode string
		want                           string
	}{
		{"https://r.example/auth/token", "registry", "", "",
			`Bearer realm="https://r.example/auth/token",service="registry"`},
		{"https://r.example/t", "registry", "repository:a/b:pull,push", "insufficient_scope",
			`Bearer realm="https://r.example/t",service="registry",scope="repository:a/b:pull,push",error="insufficient_scope"`},
		// %q would write \u00e9 and \u200b, which clients read as letters.
		{"https://r.example/t", `Régistry "x" \ y` + "\u200b", "", "",
			`Bearer realm="https://r.example/t",service="Régistry \"x\" \\ y` + "\u200b" + `"`},
		{"https://r.example/t", "a\r\nX-Injected: 1", "", "",
			`Bearer realm="https://r.example/t",service="a  X-Injected: 1"`},
	}
	for _, tt := range tests {
		if got := Bearer(tt.realm, tt.service, tt.scope, tt.errCode); got != tt.want {
			t.Errorf("Bearer(%q, %q, %q, %q) =\n%s\nwant\n%s", tt.realm, tt.service, tt.scope, tt.errCode, got, tt.want)
		}
	}
}

// FuzzChallenges renders challenges from arbitrary text and parses them
// back with a real client's parser: without control characters every
// parameter must come back unchanged; with them, the header must still be
// a valid field value (one line) that parses.
func FuzzChallenges(f *testing.F) {
	f.Add("https://registry.example.com/auth/token", "registry-stack", "repository:team-a/app:pull,push", "invalid_token")
	f.Add("http://[::1]:5000/auth/realms/lab/protocol/docker-v2/auth", "docker-registry", "registry:catalog:*", "")
	f.Add("https://r.example/t", `a "quoted" \ name`, "repository:a:pull repository:b:push", "insufficient_scope")
	f.Add("https://r.example/t", "Régistry\u200b", "", "")
	f.Add("https://r.example/t", "a\r\nb", "x\x00y", "\t")
	f.Add("https://r.example/t", `\`, `"`, `\"`)
	f.Fuzz(func(t *testing.T, realm, service, scope, errCode string) {
		for _, v := range []string{realm, service, scope, errCode} {
			if v == "" {
				return // Bearer's callers never pass an empty realm or service; both clients stop at an empty value
			}
		}
		want := map[string]string{"realm": realm, "service": service, "scope": scope, "error": errCode}
		header := Bearer(realm, service, scope, errCode)
		checkParses(t, header, "bearer", want)
		checkParses(t, Basic(realm), "basic", map[string]string{"realm": realm})
	})
}

func checkParses(t *testing.T, header, scheme string, want map[string]string) {
	t.Helper()
	for _, b := range []byte(header) {
		if b != '\t' && (b < 0x20 || b == 0x7f) {
			t.Fatalf("challenge %q holds control character %q", header, b)
		}
	}
	for k, v := range want {
		if !HasControl(v) {
			continue
		}
		want[k] = strings.Map(func(r rune) rune {
			if HasControl(string(r)) {
				return ' '
			}
			return r
		}, v)
	}
	gotScheme, got := parse(t, header)
	if gotScheme != scheme || !maps.Equal(got, want) {
		t.Fatalf("challenge %s\nparses as %s %q\nwant      %s %q", header, gotScheme, got, scheme, want)
	}
}
