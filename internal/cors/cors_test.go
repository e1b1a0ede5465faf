package cors

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPolicy(t *testing.T) {
	p, err := New([]string{"https://ui.example.com", "HTTPS://Other.Example.com:443"}, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, origin, host string
		want               string // Access-Control-Allow-Origin; empty: not granted
	}{
		{"listed", "https://ui.example.com", "registry.internal", "https://ui.example.com"},
		{"listed, normalised in config", "https://other.example.com", "registry.internal", "https://other.example.com"},
		{"own origin", "http://registry.internal:5000", "registry.internal:5000", "http://registry.internal:5000"},
		{"foreign", "https://evil.example", "registry.internal", ""},
		{"suffix of a listed one", "https://ui.example.com.evil.example", "registry.internal", ""},
		{"null", "null", "registry.internal", ""},
		{"none", "", "registry.internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodOptions, "http://"+tt.host+"/v2/", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			r.Header.Set("Access-Control-Request-Method", "GET")
			w := httptest.NewRecorder()
			p.Apply(w, r)
			p.Preflight(w, r, "GET", "Authorization")
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != tt.want {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.want)
			}
			if granted := w.Header().Get("Access-Control-Allow-Methods") != ""; granted != (tt.want != "") {
				t.Errorf("preflight granted = %v, want %v", granted, tt.want != "")
			}
			if w.Header().Get("Vary") != "Origin" {
				t.Errorf("Vary = %q, want Origin", w.Header().Get("Vary"))
			}
		})
	}
	if _, err := New([]string{"https://*.example.com"}, false); err == nil {
		t.Error("a wildcard origin was accepted")
	}
}
