package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stackrun"
)

// selfSigned writes a self-signed certificate for ip and its key, and
// returns their paths.
func selfSigned(t *testing.T, ip net.IP) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "registry-stack test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{ip},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// toHTTPS sends stackrun's readiness checks (http://) to a stack serving
// TLS, verifying its certificate.
type toHTTPS struct{ base http.RoundTripper }

func (h toHTTPS) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "https"
	return h.base.RoundTrip(r)
}

// TestImportDefaultTargetTLS: a local stack serving TLS is imported into
// with its certificate checked: trusted, the import works; untrusted, it
// fails and the note names --to and --insecure; --insecure is never
// implied.
func TestImportDefaultTargetTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t, net.IPv4(127, 0, 0, 1))
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tlsEnv := []string{"REGISTRY_STACK_TLS_CERT=" + certFile, "REGISTRY_STACK_TLS_KEY=" + keyFile}
	runner := stackrun.Runner{Client: &http.Client{Timeout: 5 * time.Second, Transport: toHTTPS{&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}}
	st := runner.Start(t, tlsEnv)
	dir, want := smallLayout(t)
	env := append([]string{"REGISTRY_STACK_LISTEN=" + st.Addr}, tlsEnv...)
	const note = "the local stack serves TLS: its certificate is checked for "

	// The certificate is not trusted here: the import fails on it.
	code, out, stderr := stackrun.RunCLI(t, append(env, "SSL_CERT_FILE="+filepath.Join(t.TempDir(), "none.pem")), "import", dir)
	t.Logf("untrusted: exit %d\n%s%s", code, out, stderr)
	if code != 1 || !strings.Contains(stderr, "certificate") || !strings.Contains(stderr, note+st.Addr) || !strings.Contains(stderr, "--insecure") {
		t.Errorf("import into a stack with an untrusted certificate: exit %d; want 1, the certificate error and the note naming --insecure", code)
	}

	// Trusted (as a lab's CA would be): checked and accepted.
	code, out, stderr = stackrun.RunCLI(t, append(env, "SSL_CERT_FILE="+certFile), "import", dir)
	t.Logf("trusted: exit %d\n%s%s", code, out, stderr)
	if code != 0 || !strings.Contains(out, "imported team/app:1.0 -> "+want.String()) {
		t.Errorf("import into a stack with a trusted certificate: exit %d", code)
	}

	// --insecure, asked for, accepts it untrusted, and the note is not shown.
	code, out, stderr = stackrun.RunCLI(t, append(env, "SSL_CERT_FILE="+filepath.Join(t.TempDir(), "none.pem")), "import", "--insecure", dir)
	t.Logf("--insecure: exit %d\n%s%s", code, out, stderr)
	if code != 0 || strings.Contains(stderr, note) {
		t.Errorf("import --insecure: exit %d; want 0 without the note", code)
	}
}
