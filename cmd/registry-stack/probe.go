package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/registry-stack/registry-stack/internal/config"
)

// runProbe asks the local server's /readyz, using the same config sources as
// serve to find the address. It exists because the container image has no
// shell or curl for a HEALTHCHECK.
func runProbe(ctx context.Context, args, environ []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	cfg, code, ok := parseConfig(fs, args, environ, stderr)
	if !ok {
		return code
	}
	scheme := "http"
	client := &http.Client{Timeout: 5 * time.Second}
	if cfg.TLS.Cert != "" {
		scheme = "https"
		// The probe talks to its own process over loopback; the certificate
		// names the public host, not 127.0.0.1.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
	}
	url := scheme + "://" + config.LocalAddress(cfg.Listen) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "registry-stack probe: %v\n", err)
		return exitFailure
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "registry-stack probe: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(stderr, "registry-stack probe: %s: %s %s\n", url, resp.Status, body)
		return exitFailure
	}
	return exitOK
}
