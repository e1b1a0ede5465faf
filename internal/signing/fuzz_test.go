package signing

import (
	"bytes"
	"crypto/elliptic"
	"strings"
	"testing"
)

// FuzzLoadPEM feeds arbitrary bytes to the key file parser Load uses after
// its file checks. It must never panic; a failure must name the file; and
// whatever it accepts must be a key that signs tokens the Set verifies.
func FuzzLoadPEM(f *testing.F) {
	p256, p384 := mustEC(elliptic.P256()), mustEC(elliptic.P384())
	good := pkcs8PEM(p256)
	for _, seed := range [][]byte{
		nil,
		[]byte("not a key"),
		good,
		sec1PEM(p384),
		pkcs1PEM(rsa2048()),
		pkcs8PEM(rsa1024()),
		sec1PEM(mustEC(elliptic.P224())),
		append(pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), sec1PEM(p256)...),
		good[:len(good)/2],
		bytes.Repeat(good, 2),
		pemBlock("PRIVATE KEY", nil),
		pemBlock("EC PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x01}),
		[]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"),
	} {
		f.Add(seed)
	}
	const name = "fuzz.pem"
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parsePEM(data, name)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if kid, err := thumbprint(k.Public()); err != nil || kid != k.KeyID() {
			t.Fatalf("kid %s, thumbprint %s (%v)", k.KeyID(), kid, err)
		}
		s, err := NewSet(k)
		if err != nil {
			t.Fatalf("NewSet: %v", err)
		}
		raw, err := s.Sign(testClaims())
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if h, _ := verify(t, s, raw); h.Algorithm != k.Algorithm() {
			t.Fatalf("signed with %s, key says %s", h.Algorithm, k.Algorithm())
		}
	})
}
