package keycloak

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// keycloakSigKey is the public RS256 key of a Keycloak 26 realm, as served by
// its JWKS endpoint; keycloakSigKeyLibtrustID is the kid Keycloak put into the
// header of docker-v2 tokens signed with it.
const (
	keycloakSigKey = `{"kid":"6FVgkcrEyzIg6p2z4ZoVjcC8Ey11ptRAKahDBkKJUwQ","kty":"RSA","alg":"RS256","use":"sig",` +
		`"n":"z3STIQ7fmcL3oMBFdHH_y9p-hAC-ocoM7GmjDYuarYpAZ1mMQwt8IsiesgQAEqeFhoSBhblOG9poZQcmVrJj7aTR86u-IwuVF4u2xRwu_h99P9AOf17x8vihnHdBScVUxFbawa3REZdbK2xmlfpGNRaS5Zbu2oNHbyvuSv3zYiADawNndW7XT-DA9jlLC5MDW2Kp-5ickd3uoI5Kzb3dwA080Ye9VYqXB-k0fDwpNCkVpK5OBGlEoqJgOD8I1GI2qLALCw0DQg2SAL6Bv4JABoxMwFBKyogD0QQaUo1SXioW1FxrMfXN-9ovizGtnAaVC2eIVi8F0ZzJFE0sHE478w",` +
		`"e":"AQAB"}`
	keycloakSigKeyLibtrustID = "5BKW:BEOK:YTFT:EIHK:TWZ6:DGQV:RXAL:YEZN:OWTN:IQBJ:VBBQ:MQUJ"
)

var libtrustIDPattern = regexp.MustCompile(`^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$`)

func TestLibtrustKeyIDMatchesKeycloak(t *testing.T) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal([]byte(keycloakSigKey), &jwk); err != nil {
		t.Fatal(err)
	}
	got, err := LibtrustKeyID(jwk.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got != keycloakSigKeyLibtrustID {
		t.Errorf("LibtrustKeyID = %q, want %q", got, keycloakSigKeyLibtrustID)
	}
}

func TestLibtrustKeyID(t *testing.T) {
	ec1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec2, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id1, err := LibtrustKeyID(&ec1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := LibtrustKeyID(&ec2.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{id1, id2} {
		if !libtrustIDPattern.MatchString(id) {
			t.Errorf("LibtrustKeyID = %q, want 12 groups of 4 base32 characters", id)
		}
	}
	if id1 == id2 {
		t.Errorf("distinct keys got the same id %q", id1)
	}
	if again, _ := LibtrustKeyID(&ec1.PublicKey); again != id1 {
		t.Errorf("LibtrustKeyID not deterministic: %q then %q", id1, again)
	}
	if _, err := LibtrustKeyID([]byte("hmac secret")); err == nil {
		t.Error("LibtrustKeyID accepted a symmetric key")
	}
}
