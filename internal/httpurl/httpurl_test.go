package httpurl

import (
	"strings"
	"testing"
)

func TestParseBase(t *testing.T) {
	tests := []struct {
		raw     string
		want    string // the normalised URL; empty when an error is expected
		wantErr string
	}{
		{raw: "https://kc.example.test", want: "https://kc.example.test"},
		{raw: "https://kc.example.test/", want: "https://kc.example.test"},
		{raw: "http://kc.example.test:8080/auth/", want: "http://kc.example.test:8080/auth"},
		{raw: "HTTPS://KC.example.test", want: "https://KC.example.test"},
		{raw: "", wantErr: "must be set"},
		{raw: "  ", wantErr: "must be set"},
		{raw: "kc:8080", wantErr: "must start with http:// or https://"},
		{raw: "ftp://kc.example.test", wantErr: "must start with http:// or https://"},
		{raw: "https://", wantErr: "has no host"},
		{raw: "http://:80", wantErr: "has no host"},
		{raw: "https://kc.example.test/%zz", wantErr: "is not a URL"},
		{raw: "https://u:secret@kc.example.test", wantErr: "must not carry credentials"},
		{raw: "https://u:secret@kc.example.test/%zz", wantErr: "is not a URL"},
		{raw: "https://kc.example.test?x=1", wantErr: "query or fragment"},
		{raw: "https://kc.example.test?", wantErr: "query or fragment"},
		{raw: "https://kc.example.test#top", wantErr: "query or fragment"},
		{raw: "https://kc.example.test/auth/../x", wantErr: "must not have empty, . or .. path segments"},
		{raw: "https://kc.example.test//auth", wantErr: "must not have empty, . or .. path segments"},
		{raw: "https://kc.example.test/%2e", wantErr: "must not have empty, . or .. path segments"},
	}
	for _, tt := range tests {
		u, err := ParseBase(tt.raw)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseBase(%q) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseBase(%q) error leaks the password: %v", tt.raw, err)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("ParseBase(%q) = %v, %v; want %s", tt.raw, u, err, tt.want)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		raw, want string // want empty: an error is expected
	}{
		{"https://ui.example.com", "https://ui.example.com"},
		{"https://ui.example.com/", "https://ui.example.com"},
		{"HTTPS://UI.Example.com:443", "https://ui.example.com"},
		{"http://ui.example.com:80", "http://ui.example.com"},
		{"http://ui.example.com:8080", "http://ui.example.com:8080"},
		{"http://[::1]:80", "http://[::1]"},
		{"http://[::1]:3000", "http://[::1]:3000"},
		{"*", ""},
		{"https://*.example.com", ""},
		{"https://ui.example.com/app", ""},
		{"https://ui.example.com?x", ""},
		{"null", ""},
		{"ui.example.com", ""},
		{"http://İ", ""},               // lower-cases to two runes; browsers send punycode
		{"https://bücher.example", ""}, // likewise
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
	}
	for _, tt := range tests {
		got, err := ParseOrigin(tt.raw)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseOrigin(%q) = %q, want an error", tt.raw, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}
