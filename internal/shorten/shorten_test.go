package shorten

import "testing"

func TestText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdefgh", 3, "abc…"},
		{"", 0, ""},
		{"abc", 0, "…"},
		{"abc", -1, "…"},
		// "é" is two bytes: never cut inside it.
		{"aébc", 2, "a…"},
		{"aébc", 3, "aé…"},
		{"日本語", 4, "日…"},
	}
	for _, tt := range tests {
		if got := Text(tt.in, tt.n); got != tt.want {
			t.Errorf("Text(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
