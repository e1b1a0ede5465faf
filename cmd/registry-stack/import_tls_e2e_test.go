package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/stackrun"
	"github.com/registry-stack/registry-stack/internal/testcert"
)

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
	certFile, keyFile, _ := testcert.Write(t, t.TempDir())
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
