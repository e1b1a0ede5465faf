package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes written as "64MiB", "1.5GiB", "500MB" or a
// plain byte count in YAML and env.
type Size int64

// sizeUnits are the accepted suffixes, matched case-sensitively except
// for the decimal "kB"/"KB" pair that both appear in the wild.
var sizeUnits = []struct {
	suffix string
	bytes  float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, // as Kubernetes writes them
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseSize reads a size such as "256MiB", "256Mi", "1.5GiB", "500MB",
// "4096B" or "4096". Negative values, unknown units and values past 8 EiB are errors.
func ParseSize(s string) (Size, error) {
	text := strings.TrimSpace(s)
	num, mult := text, 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(text, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(text, u.suffix)), u.bytes
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "eExXpP_") || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a size (use e.g. 64MiB, 1GiB, 500MB)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q must not be negative", s)
	}
	b := math.Round(v * mult)
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(b), nil
}

// String writes the size in the largest binary unit that holds it exactly,
// so it reads back to the same value.
func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		bytes  int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && int64(s)%u.bytes == 0 {
			return strconv.FormatInt(int64(s)/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalYAML parses a size (see ParseSize).
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	var text string
	if err := n.Decode(&text); err != nil {
		return err
	}
	v, err := ParseSize(text)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*s = v
	return nil
}

// MarshalYAML writes the size as String does.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// Bytes returns the size as a byte count.
func (s Size) Bytes() int64 { return int64(s) }
