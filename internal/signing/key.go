// Package signing holds the keys registry-stack signs its own docker bearer
// tokens with: loading or generating the key file, naming keys by RFC 7638
// thumbprint, signing, and publishing the public keys as a JWKS.
//
// Nothing in this package puts key material into an error or a log line:
// errors name the file and what is wrong with it, and a *Key prints and logs
// as its algorithm and key ID.
package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// minRSABits refuses keys too weak to sign with; it matches what the
// verifying side accepts from Keycloak's JWKS.
const minRSABits = 2048

// maxKeyFileSize bounds what Load reads: a PEM private key is a few KiB even
// for 16384-bit RSA, and a path pointing at something else (a log, a device)
// must not be read whole.
const maxKeyFileSize = 64 << 10

// Key is a private signing key with its key ID and signature algorithm.
// It is immutable and safe for concurrent use.
type Key struct {
	priv crypto.Signer
	kid  string
	alg  jose.SignatureAlgorithm
}

// KeyID is the key's RFC 7638 JWK thumbprint (SHA-256, base64url without
// padding): the "kid" of the tokens it signs and of its JWKS entry.
func (k *Key) KeyID() string { return k.kid }

// Algorithm is the JWS algorithm the key signs with: ES256, ES384 or ES512
// by curve for ECDSA, RS256 for RSA.
func (k *Key) Algorithm() string { return string(k.alg) }

// Public returns the public key (*ecdsa.PublicKey or *rsa.PublicKey).
func (k *Key) Public() crypto.PublicKey { return k.priv.Public() }

// String names the key by algorithm and key ID, for logs and errors.
func (k *Key) String() string { return fmt.Sprintf("signing key %s %s", k.alg, k.kid) }

// LogValue logs the key as its key ID and algorithm.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.kid), slog.String("alg", string(k.alg)))
}

// NewKey wraps an RSA (at least 2048 bits) or ECDSA (P-256, P-384, P-521)
// private key.
func NewKey(priv crypto.Signer) (*Key, error) {
	var alg jose.SignatureAlgorithm
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too weak; want at least %d", bits, minRSABits)
		}
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		case elliptic.P521():
			alg = jose.ES512
		default:
			return nil, fmt.Errorf("ECDSA curve %s is not supported; want P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	case ed25519.PrivateKey:
		// The registry's token verification (tokenauth, and distribution's
		// own) accepts RSA and ECDSA signatures only.
		return nil, errors.New("Ed25519 keys are not supported; want an ECDSA (P-256, P-384, P-521) or RSA key")
	case nil:
		return nil, errors.New("no private key")
	default:
		return nil, fmt.Errorf("%T keys are not supported; want an ECDSA (P-256, P-384, P-521) or RSA key", priv)
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Key{priv: priv, kid: kid, alg: alg}, nil
}

// Generate returns a new ECDSA P-256 key, the kind LoadOrGenerate writes:
// small keys and tokens, fast signing, and accepted by distribution's own
// token verification as well as by tokenauth.
func Generate() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ECDSA P-256 key: %w", err)
	}
	return NewKey(priv)
}

// thumbprint is the RFC 7638 JWK thumbprint of pub with SHA-256, base64url
// encoded without padding.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// Load reads a PEM private key file: PKCS#8 ("PRIVATE KEY"), PKCS#1 RSA
// ("RSA PRIVATE KEY") or SEC1 EC ("EC PRIVATE KEY", optionally after the "EC
// PARAMETERS" block openssl ecparam writes). The file must not be accessible
// by group or others: a signing key that other users can read lets them
// mint registry tokens.
func Load(path string) (*Key, error) {
	// Checked before opening: opening a FIFO would block. Whoever could
	// swap the file between the check and the read controls the directory,
	// and with it the key, anyway.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err) // names the file
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("signing key %s: is a directory, want a PEM private key file", path)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("signing key %s: not a regular file, want a PEM private key file", path)
	}
	// Windows synthesises permission bits from the read-only attribute, so
	// there every file would look world readable.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("signing key %s is accessible by group or others (mode %#o); run chmod 600 %s", path, perm, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("signing key %s: larger than %d KiB, not a PEM private key", path, maxKeyFileSize>>10)
	}
	return parsePEM(data, path)
}

// parsePEM parses the contents of the key file name. Its errors name the
// file and the PEM block type, never the block's bytes.
func parsePEM(data []byte, name string) (*Key, error) {
	var key *pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "EC PARAMETERS":
			// openssl ecparam -genkey writes the curve before the key; the
			// key names its curve itself.
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
			return nil, fmt.Errorf("signing key %s: the key is encrypted; store it unencrypted, e.g. openssl pkcs8 -topk8 -nocrypt -in %s", name, name)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			if key != nil {
				return nil, fmt.Errorf("signing key %s: more than one private key; want exactly one", name)
			}
			key = b
		default:
			// A certificate or public key here means the setting points
			// at the wrong file.
			return nil, fmt.Errorf("signing key %s: PEM block %q is not a private key", name, b.Type)
		}
	}
	// pem.Decode stops at a block it cannot decode, such as a truncated
	// one; passing over it could hide a damaged file.
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("signing key %s: a PEM block is damaged or truncated", name)
	}
	if key == nil {
		return nil, fmt.Errorf("signing key %s: no PEM private key block", name)
	}
	priv, err := parsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", name, err)
	}
	k, err := NewKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", name, err)
	}
	return k, nil
}

// parsePrivateKey decodes a PEM block's DER by its type. The x509 errors
// describe the ASN.1 structure, not the bytes, so they may be passed on.
func parsePrivateKey(b *pem.Block) (crypto.Signer, error) {
	var (
		priv any
		err  error
	)
	switch b.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not supported; want PRIVATE KEY (PKCS#8), RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1)", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM block %q: %w", b.Type, err)
	}
	switch k := priv.(type) {
	case *ecdh.PrivateKey:
		return nil, fmt.Errorf("%s keys are for key agreement, not signing; want an ECDSA (P-256, P-384, P-521) or RSA key", k.Curve())
	case crypto.Signer:
		return k, nil
	default:
		return nil, fmt.Errorf("%T keys are not supported; want an ECDSA (P-256, P-384, P-521) or RSA key", priv)
	}
}

// link is os.Link, replaced in tests to exercise the fallback for file
// systems without hard links.
var link = os.Link

// LoadOrGenerate loads the key file at path, or, if there is none, generates
// an ECDSA P-256 key and writes it there as PKCS#8 PEM with mode 0600,
// creating the directory with mode 0700 if needed. An existing file is never
// replaced, even an unusable one: its error is returned instead.
//
// The file appears atomically, complete or not at all: the key is written to
// a temporary file in the same directory, synced, and then hard-linked into
// place, which fails if the file exists. So of several processes starting
// at once on a shared volume, one writes the key and all use it. Where the
// file system has no hard links the temporary file is renamed instead, and
// there simultaneous first starts may each keep their own key.
func LoadOrGenerate(path string) (*Key, error) {
	_, err := os.Stat(path)
	if err == nil {
		return Load(path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("signing key: %w", err) // names the file
	}
	k, err := Generate()
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: encoding: %w", path, err)
	}
	created, err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if !created {
		// Another process wrote the key first: use that one.
		return Load(path)
	}
	return k, nil
}

// writeNew atomically creates path with data and mode 0600. It reports
// false, and leaves the file alone, if path came to exist meanwhile.
func writeNew(path string, data []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating the directory: %w", err)
	}
	// CreateTemp makes the file with mode 0600 before anything is written.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name()) // after link or rename, or on failure
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	// Synced before it gets its name, so a crash cannot leave an empty
	// key file behind.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	switch err := link(tmp.Name(), path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return false, nil
	default:
		if err := os.Rename(tmp.Name(), path); err != nil {
			return false, err
		}
	}
	syncDir(dir)
	return true, nil
}

// syncDir makes a new directory entry durable. It is best effort: some
// platforms and file systems cannot sync a directory, and the key is already
// complete on disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
