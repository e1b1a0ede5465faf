package config

import "testing"

func TestLocalAddress(t *testing.T) {
	for listen, want := range map[string]string{
		":5000":             "127.0.0.1:5000",
		"0.0.0.0:5000":      "127.0.0.1:5000",
		"[::]:5000":         "127.0.0.1:5000",
		"127.0.0.1:5000":    "127.0.0.1:5000",
		"10.1.2.3:443":      "10.1.2.3:443",
		"[::1]:5000":        "[::1]:5000",
		"registry.lab:5000": "registry.lab:5000",
	} {
		if got := LocalAddress(listen); got != want {
			t.Errorf("LocalAddress(%q) = %q, want %q", listen, got, want)
		}
	}
}
