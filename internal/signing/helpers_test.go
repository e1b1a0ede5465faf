package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// RSA keys are slow to generate, so each size is made once per test binary.
var (
	rsa2048 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsa1024 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(1024) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustKey(t testing.TB, priv crypto.Signer) *Key {
	t.Helper()
	k, err := NewKey(priv)
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	return k
}

func mustSet(t testing.TB, active *Key, previous ...*Key) *Set {
	t.Helper()
	s, err := NewSet(active, previous...)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return s
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8PEM(priv any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func sec1PEM(priv *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		panic(err)
	}
	return pemBlock("EC PRIVATE KEY", der)
}

func pkcs1PEM(priv *rsa.PrivateKey) []byte {
	return pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(priv))
}

// writeKeyFile writes data to dir/name with exactly mode, whatever the
// umask, and returns the path.
func writeKeyFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkNoKeyMaterial fails if msg quotes any base64 line of the PEM data.
func checkNoKeyMaterial(t *testing.T, msg string, data []byte) {
	t.Helper()
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
			t.Errorf("message %q quotes the key file's content", msg)
			return
		}
	}
}

// samePublic reports whether a is a public key equal to b.
func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
