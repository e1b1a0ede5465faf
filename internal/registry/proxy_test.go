package registry

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDistributionConfigProxy: proxy.* becomes distribution's proxy
// section, a ttl of 0 its "never expire" (a set zero, not distribution's
// 7-day default for an unset one).
func TestDistributionConfigProxy(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		ttl  *time.Duration
	}{
		{"no cache", "", nil},
		{"default ttl", "proxy:\n  remote_url: https://up.example\n  username: cache\n  password: pw\n", ptr(7 * 24 * time.Hour)},
		{"kept for ever", "proxy:\n  remote_url: https://up.example\n  ttl: 0s\n", ptr(time.Duration(0))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.yaml)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			d, err := DistributionConfig(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := d.Proxy
			if tc.ttl == nil {
				if p.RemoteURL != "" || p.TTL != nil {
					t.Fatalf("proxy section %+v, want none", p)
				}
				return
			}
			if p.RemoteURL != "https://up.example" || p.Username != cfg.Proxy.Username || p.Password != cfg.Proxy.Password || p.TTL == nil || *p.TTL != *tc.ttl {
				t.Fatalf("proxy section %+v (ttl %v), want %s, %q and ttl %v", p, p.TTL, cfg.Proxy.RemoteURL, cfg.Proxy.Username, *tc.ttl)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestCheckUpstreamError: the start-up error names the setting the URL came
// from and never prints its password.
func TestCheckUpstreamError(t *testing.T) {
	tests := []struct{ key, url string }{
		{"distribution.proxy.remoteurl", "http://cache:pw-in-url@127.0.0.1:1"},
		{"distribution.proxy.remoteurl", "http://cache:pw-in-url@[::1"},
		{"proxy.remote_url", "ftp://cache:pw-in-url@127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			err := checkUpstream(context.Background(), tc.key, tc.url)
			if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") || strings.Contains(err.Error(), "pw-in-url") {
				t.Fatalf("checkUpstream(%q): %v, want an error naming %s without the password", tc.url, err, tc.key)
			}
		})
	}
}
