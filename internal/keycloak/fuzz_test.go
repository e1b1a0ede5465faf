package keycloak

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// FuzzJWKS feeds arbitrary documents to the JWKS parser the key set uses.
// It must never panic, and may only index RSA keys of at least 2048 bits
// and EC keys on a standard curve, each under its own libtrust kid or under
// a kid the document gave that very key.
func FuzzJWKS(f *testing.F) {
	// A JWKS as Keycloak 26 serves it: an RS256 signature key and an
	// RSA-OAEP encryption key, both with certificates.
	served, err := os.ReadFile("testdata/keycloak-jwks.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(served)
	var gen []jose.JSONWebKey
	for _, k := range []testKey{newRSAKey(f, "rsa"), newECKey(f, "ec")} {
		gen = append(gen, k.jwk)
	}
	for _, seed := range []any{
		jose.JSONWebKeySet{Keys: gen},
		map[string]any{"keys": []any{gen[1], map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}}},
		map[string]any{"keys": []any{map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"}}},
		map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "x": "AQ", "y": "AQ"}}},
		map[string]any{"keys": []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}},
		map[string]any{"keys": []any{gen[0], gen[0]}},
		map[string]any{"keys": "none"},
	} {
		b, err := json.Marshal(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc jwks
		if json.Unmarshal(data, &doc) != nil {
			return // getJSON's error
		}
		keys := indexKeys(context.Background(), log, doc)
		declared := map[string][]crypto.PublicKey{}
		for _, raw := range doc.Keys {
			var jwk jose.JSONWebKey
			if jwk.UnmarshalJSON(raw) == nil && jwk.KeyID != "" {
				declared[jwk.KeyID] = append(declared[jwk.KeyID], jwk.Key)
			}
		}
		for kid, k := range keys {
			switch k := k.(type) {
			case *rsa.PublicKey:
				if k.N.BitLen() < minRSABits {
					t.Fatalf("kid %q: RSA key of %d bits", kid, k.N.BitLen())
				}
			case *ecdsa.PublicKey:
				if _, err := k.ECDH(); err != nil {
					t.Fatalf("kid %q: EC key not on a standard curve: %v", kid, err)
				}
			default:
				t.Fatalf("kid %q: key of type %T", kid, k)
			}
			if lt, err := LibtrustKeyID(k); err != nil || lt != kid && !containsKey(declared[kid], k) {
				t.Fatalf("kid %q indexes a key the document gave another kid (libtrust %s, %v)", kid, lt, err)
			}
		}
	})
}

func containsKey(list []crypto.PublicKey, k crypto.PublicKey) bool {
	for _, c := range list {
		if sameKey(c, k) {
			return true
		}
	}
	return false
}

// FuzzParseRealm checks the realm address rule: an accepted realm name
// stays one path segment of every endpoint URL, which parses back to the
// same name, under the configured base URL.
func FuzzParseRealm(f *testing.F) {
	for _, s := range [][2]string{
		{"http://127.0.0.1:8080", "registry"}, {"https://kc.example/auth/", "lab"},
		{"https://kc.example", "a b%2F"}, {"https://kc.example", ".."}, {"https://kc.example", "a/b"},
		{"kc:8080", "r"}, {"https://kc.example/%2e%2e", "r"}, {"https://kc.example", "%"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, rawURL, name string) {
		r, err := ParseRealm(rawURL, name)
		if err != nil {
			var re *RealmError
			if !errors.As(err, &re) || re.Setting != "url" && re.Setting != "realm" {
				t.Fatalf("error %v is not a *RealmError naming url or realm", err)
			}
			return
		}
		base := r.BaseURL.String()
		for _, u := range []string{r.IssuerURL(), r.DockerAuthURL(), r.OIDCTokenURL(), r.CertsURL(), r.DiscoveryURL()} {
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatalf("%s does not parse: %v", u, err)
			}
			if !strings.HasPrefix(u, base+"/realms/") {
				t.Fatalf("%s is not under %s", u, base)
			}
			segment, _, _ := strings.Cut(strings.TrimPrefix(parsed.EscapedPath(), r.BaseURL.EscapedPath()+"/realms/"), "/")
			if got, err := url.PathUnescape(segment); err != nil || got != name {
				t.Fatalf("%s names realm %q (%v), want %q", u, got, err, name)
			}
		}
	})
}
