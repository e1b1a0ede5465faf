package keycloak

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"fmt"
	"strings"
)

// LibtrustKeyID returns the key ID docker's libtrust derives from a public
// key, which Keycloak puts into the "kid" header of docker-v2 tokens instead
// of the key's JWKS kid: SHA-256 of the PKIX DER encoding, truncated to 240
// bits, base32 encoded and split into twelve ':'-separated groups of four.
func LibtrustKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("libtrust key id: %w", err)
	}
	sum := sha256.Sum256(der)
	// 30 bytes encode to exactly 48 base32 characters, without padding.
	enc := base32.StdEncoding.EncodeToString(sum[:30])
	var b strings.Builder
	for i := 0; i < len(enc); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(enc[i : i+4])
	}
	return b.String(), nil
}
