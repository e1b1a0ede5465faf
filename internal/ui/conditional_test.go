package ui

import "testing"

func TestAcceptsGzip(t *testing.T) {
	tests := map[string]bool{
		"":                     false,
		"gzip":                 true,
		"GZIP":                 true,
		"x-gzip":               true,
		"gzip;q=0":             false,
		"gzip; q=0.001":        true,
		"gzip;q=0.0, *;q=1":    false,
		"br;q=1.0, *;q=0.5":    true,
		"identity":             false,
		"deflate, br, zstd":    false,
		"gzip;level=9;q=0.8":   true,
		"gzip;q=garbage":       true,
		" gzip , deflate ":     true,
		"compress, *;q=0":      false,
		"br, gzip;q=0, *;q=1":  false,
		"identity;q=1, *;q=0":  false,
		"deflate;q=0.5, gzip ": true,
	}
	for header, want := range tests {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"abc-gz"`, true},
		{`"x", "abc"`, true},
		{`*`, true},
		{`"abcd"`, false},
		{`abc`, false},
		{``, false},
	}
	for _, tc := range tests {
		if got := etagMatches(tc.header, `"abc"`, `"abc-gz"`); got != tc.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
	if etagMatches(`""`, `"abc"`, "") {
		t.Error(`an empty gzip tag matched ""`)
	}
}
