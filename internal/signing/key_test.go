package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestLoadFormats(t *testing.T) {
	p256, p384, p521 := mustEC(elliptic.P256()), mustEC(elliptic.P384()), mustEC(elliptic.P521())
	oidP256, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		priv    crypto.Signer
		data    []byte
		wantAlg string
	}{
		{"PKCS#8 P-256", p256, pkcs8PEM(p256), "ES256"},
		{"PKCS#8 P-384", p384, pkcs8PEM(p384), "ES384"},
		{"PKCS#8 P-521", p521, pkcs8PEM(p521), "ES512"},
		{"SEC1 P-256", p256, sec1PEM(p256), "ES256"},
		{"SEC1 P-384", p384, sec1PEM(p384), "ES384"},
		// openssl ecparam -genkey writes the curve before the key.
		{"SEC1 after EC PARAMETERS", p256, append(pemBlock("EC PARAMETERS", oidP256), sec1PEM(p256)...), "ES256"},
		{"PKCS#1 RSA 2048", rsa2048(), pkcs1PEM(rsa2048()), "RS256"},
		{"PKCS#8 RSA 2048", rsa2048(), pkcs8PEM(rsa2048()), "RS256"},
		// openssl pkcs12 output starts with attribute text.
		{"text before the block", p256, append([]byte("Bag Attributes\n    localKeyID: 01\n"), pkcs8PEM(p256)...), "ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKeyFile(t, t.TempDir(), "key.pem", tt.data, 0o600)
			k, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if k.Algorithm() != tt.wantAlg {
				t.Errorf("Algorithm = %s, want %s", k.Algorithm(), tt.wantAlg)
			}
			want, err := thumbprint(tt.priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			if k.KeyID() != want {
				t.Errorf("KeyID = %s, want %s", k.KeyID(), want)
			}
			if !samePublic(k.Public(), tt.priv.Public()) {
				t.Error("Public() differs from the key in the file")
			}
		})
	}
}

func TestLoadRefusesBadKeys(t *testing.T) {
	p224 := mustEC(elliptic.P224())
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256 := mustEC(elliptic.P256())
	good := pkcs8PEM(p256)
	sec1DER, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 120)
	if _, err := rand.Read(junk); err != nil {
		t.Fatal(err)
	}
	selfSigned := func() []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, p256.Public(), p256)
		if err != nil {
			t.Fatal(err)
		}
		return pemBlock("CERTIFICATE", der)
	}()
	pubDER, err := x509.MarshalPKIXPublicKey(p256.Public())
	if err != nil {
		t.Fatal(err)
	}
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"},
		Bytes:   junk,
	})

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "no PEM private key block"},
		{"not PEM", []byte("hello, this is not a key\n"), "no PEM private key block"},
		{"DER instead of PEM", sec1DER, "no PEM private key block"},
		{"truncated", good[:len(good)/2], "damaged or truncated"},
		{"missing END line", bytes.TrimSuffix(good, []byte("-----END PRIVATE KEY-----\n")), "damaged or truncated"},
		{"damaged block after the key", append(bytes.Clone(good), good[:len(good)-10]...), "damaged or truncated"},
		{"corrupt PKCS#8", pemBlock("PRIVATE KEY", junk), `PEM block "PRIVATE KEY"`},
		{"corrupt SEC1", pemBlock("EC PRIVATE KEY", junk), `PEM block "EC PRIVATE KEY"`},
		{"corrupt PKCS#1", pemBlock("RSA PRIVATE KEY", junk), `PEM block "RSA PRIVATE KEY"`},
		{"SEC1 labelled PKCS#8", pemBlock("PRIVATE KEY", sec1DER), `PEM block "PRIVATE KEY"`},
		{"RSA 1024 PKCS#1", pkcs1PEM(rsa1024()), "RSA key of 1024 bits is too weak"},
		{"RSA 1024 PKCS#8", pkcs8PEM(rsa1024()), "RSA key of 1024 bits is too weak"},
		{"P-224 PKCS#8", pkcs8PEM(p224), "curve P-224 is not supported"},
		{"P-224 SEC1", sec1PEM(p224), "curve P-224 is not supported"},
		{"Ed25519", pkcs8PEM(ed), "Ed25519 keys are not supported"},
		{"X25519", pkcs8PEM(x25519), "X25519 keys are for key agreement"},
		{"PKCS#8 encrypted", pemBlock("ENCRYPTED PRIVATE KEY", junk), "encrypted"},
		{"legacy encrypted", legacyEncrypted, "encrypted"},
		{"OpenSSH key", pemBlock("OPENSSH PRIVATE KEY", junk), `"OPENSSH PRIVATE KEY" is not supported`},
		{"DSA key", pemBlock("DSA PRIVATE KEY", junk), `"DSA PRIVATE KEY" is not supported`},
		{"certificate", selfSigned, `PEM block "CERTIFICATE" is not a private key`},
		{"certificate and key", append(bytes.Clone(selfSigned), good...), `PEM block "CERTIFICATE" is not a private key`},
		{"public key", pemBlock("PUBLIC KEY", pubDER), `PEM block "PUBLIC KEY" is not a private key`},
		{"two keys", append(bytes.Clone(good), pkcs8PEM(mustEC(elliptic.P256()))...), "more than one private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKeyFile(t, t.TempDir(), "signing.pem", tt.data, 0o600)
			k, err := Load(path)
			if err == nil {
				t.Fatalf("Load = %v, want an error", k)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to say %q", msg, tt.want)
			}
			checkNoKeyMaterial(t, msg, tt.data)
		})
	}
}

func TestLoadFileMode(t *testing.T) {
	data := pkcs8PEM(mustEC(elliptic.P256()))
	tests := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o700, true},
		{0o640, false}, // group readable
		{0o620, false}, // group writable: others could swap in their key
		{0o604, false}, // world readable
		{0o602, false},
		{0o644, false},
		{0o666, false},
		{0o601, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#o", tt.mode), func(t *testing.T) {
			path := writeKeyFile(t, t.TempDir(), "key.pem", data, tt.mode)
			_, err := Load(path)
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			for _, want := range []string{"chmod 600 " + path, fmt.Sprintf("(mode %#o)", tt.mode)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want it to say %q", err, want)
				}
			}
		})
	}
}

func TestLoadNotAKeyFile(t *testing.T) {
	dir := t.TempDir()
	big := writeKeyFile(t, dir, "big.pem", bytes.Repeat([]byte("A"), maxKeyFileSize+1), 0o600)
	tests := []struct {
		name, path, want string
		is               error
	}{
		{"missing", filepath.Join(dir, "nope.pem"), "no such file", fs.ErrNotExist},
		{"directory", dir, "is a directory", nil},
		{"device", os.DevNull, "not a regular file", nil},
		{"too large", big, "larger than 64 KiB", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to name %s and say %q", err, tt.path, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestLoadOrGenerate(t *testing.T) {
	// The directories do not exist yet: LoadOrGenerate creates them.
	root := t.TempDir()
	dir := filepath.Join(root, "state", "keys")
	path := filepath.Join(dir, "signing.pem")

	k, err := LoadOrGenerate(path)
	if err != nil {
		t.Fatalf("LoadOrGenerate: %v", err)
	}
	if k.Algorithm() != "ES256" {
		t.Errorf("generated a %s key, want ES256", k.Algorithm())
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {dir, 0o700 | fs.ModeDir}, {filepath.Dir(dir), 0o700 | fs.ModeDir}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s has mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	checkOnlyFile(t, dir, "signing.pem")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("file is not a PKCS#8 PEM key:\n%s", data)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatalf("file is not PKCS#8: %v", err)
	}

	// Generate → load round trip: both ways of reading give the same key.
	if kid := fileKeyID(t, path); kid != k.KeyID() {
		t.Errorf("Load gives kid %s, LoadOrGenerate generated %s", kid, k.KeyID())
	}
	again, err := LoadOrGenerate(path)
	if err != nil {
		t.Fatalf("second LoadOrGenerate: %v", err)
	}
	if again.KeyID() != k.KeyID() {
		t.Errorf("second LoadOrGenerate gives kid %s, the first generated %s", again.KeyID(), k.KeyID())
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, data) {
		t.Error("loading rewrote the key file")
	}
}

// TestLoadOrGenerateKeepsExistingFile checks that a file LoadOrGenerate
// cannot use is reported, never replaced by a fresh key: that would silently
// invalidate every token signed with the configured key.
func TestLoadOrGenerateKeepsExistingFile(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"group readable", pkcs8PEM(mustEC(elliptic.P256())), 0o640, "chmod 600"},
		{"corrupt", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600, `PEM block "PRIVATE KEY"`},
		{"empty", nil, 0o600, "no PEM private key block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKeyFile(t, t.TempDir(), "key.pem", tt.data, tt.mode)
			_, err := LoadOrGenerate(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadOrGenerate error %v, want one naming %s and saying %q", err, path, tt.want)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) || fi.Mode() != tt.mode {
				t.Errorf("the file was changed (mode %v, %d bytes)", fi.Mode(), len(got))
			}
		})
	}
}

// TestLoadOrGenerateConcurrent starts many first starts at once, as replicas
// sharing a volume might: all must end up with the one key on disk.
func TestLoadOrGenerateConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "signing.pem")
	const n = 16
	kids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			k, err := LoadOrGenerate(path)
			errs[i] = err
			if err == nil {
				kids[i] = k.KeyID()
			}
		})
	}
	close(start)
	wg.Wait()
	onDisk := fileKeyID(t, path)
	for i := range n {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		} else if kids[i] != onDisk {
			t.Errorf("caller %d uses key %s, the file holds %s", i, kids[i], onDisk)
		}
	}
	checkOnlyFile(t, dir, "signing.pem")
}

// TestLoadOrGenerateWithoutHardLinks covers file systems that refuse hard
// links (FAT, some network file systems): the key is renamed into place.
func TestLoadOrGenerateWithoutHardLinks(t *testing.T) {
	defer func(orig func(string, string) error) { link = orig }(link)
	link = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "signing.pem")
	k, err := LoadOrGenerate(path)
	if err != nil {
		t.Fatalf("LoadOrGenerate: %v", err)
	}
	if kid := fileKeyID(t, path); kid != k.KeyID() {
		t.Errorf("file holds %s, LoadOrGenerate returned %s", kid, k.KeyID())
	}
	checkOnlyFile(t, dir, "signing.pem")
}

func TestLoadOrGenerateCannotWrite(t *testing.T) {
	// A regular file where the directory should be fails even for root.
	parent := writeKeyFile(t, t.TempDir(), "not-a-dir", []byte("x"), 0o600)
	path := filepath.Join(parent, "signing.pem")
	_, err := LoadOrGenerate(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadOrGenerate error %v, want one naming %s", err, path)
	}
}

// fileKeyID is the kid of the key Load reads from path.
func fileKeyID(t *testing.T, path string) string {
	t.Helper()
	k, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return k.KeyID()
}

// checkOnlyFile fails unless dir holds exactly name: no temporary file left.
func checkOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %q, want only %s", dir, names, name)
	}
}

func TestNewKey(t *testing.T) {
	tests := []struct {
		name    string
		priv    crypto.Signer
		wantAlg string
		wantErr string
	}{
		{"P-256", mustEC(elliptic.P256()), "ES256", ""},
		{"P-384", mustEC(elliptic.P384()), "ES384", ""},
		{"P-521", mustEC(elliptic.P521()), "ES512", ""},
		{"RSA 2048", rsa2048(), "RS256", ""},
		{"RSA 1024", rsa1024(), "", "1024 bits"},
		{"P-224", mustEC(elliptic.P224()), "", "P-224"},
		{"nil", nil, "", "no private key"},
		{"opaque signer", opaqueSigner{}, "", "signing.opaqueSigner keys are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKey(tt.priv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewKey error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewKey: %v", err)
			}
			if k.Algorithm() != tt.wantAlg {
				t.Errorf("Algorithm = %s, want %s", k.Algorithm(), tt.wantAlg)
			}
			if len(k.KeyID()) != 43 { // 32 bytes, base64url without padding
				t.Errorf("KeyID %q is not an unpadded base64url SHA-256", k.KeyID())
			}
		})
	}
}

type opaqueSigner struct{ crypto.Signer }

// TestThumbprintRFC7638 checks the kid against the example of RFC 7638
// section 3.1.
func TestThumbprintRFC7638(t *testing.T) {
	const (
		n    = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
		e    = 65537 // "AQAB"
		want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	)
	nBytes, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nBytes), E: e}
	got, err := thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

// TestKeyPrintsNoSecret formats keys every way a careless log line might and
// checks the private key never shows, whatever field types Key comes to
// have.
func TestKeyPrintsNoSecret(t *testing.T) {
	ec := mustEC(elliptic.P256())
	ecScalar, err := ec.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ecD := new(big.Int).SetBytes(ecScalar)
	rk := rsa2048()
	tests := []struct {
		name    string
		priv    crypto.Signer
		secrets []string
	}{
		{"ECDSA", ec, []string{ecD.String(), ecD.Text(16)}},
		{"RSA", rk, []string{rk.D.String(), rk.D.Text(16), rk.Primes[0].String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKey(t, tt.priv)
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "key", k)
			slog.New(slog.NewTextHandler(&logged, nil)).Info("loaded", "key", k)
			outputs := map[string]string{
				"%v":  fmt.Sprintf("%v", k),
				"%+v": fmt.Sprintf("%+v", k),
				"%#v": fmt.Sprintf("%#v", k),
				"*k":  fmt.Sprintf("%+v", *k), // the value, not the pointer
				"log": logged.String(),
			}
			for how, out := range outputs {
				if !strings.Contains(out, k.KeyID()) {
					t.Errorf("%s: %q does not name the kid", how, out)
				}
				for _, s := range tt.secrets {
					if strings.Contains(out, s) {
						t.Errorf("%s prints the private key: %q", how, out)
					}
				}
			}
		})
	}
}
