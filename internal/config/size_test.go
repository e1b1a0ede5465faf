package config

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "4096", want: 4096},
		{in: "4096B", want: 4096},
		{in: "64MiB", want: 64 << 20},
		{in: "64Mi", want: 64 << 20},
		{in: " 256 MiB ", want: 256 << 20},
		{in: "1.5GiB", want: 3 << 29},
		{in: "2TiB", want: 2 << 40},
		{in: "1KiB", want: 1024},
		{in: "500MB", want: 500e6},
		{in: "1kB", want: 1000},
		{in: "1KB", want: 1000},
		{in: "3GB", want: 3e9},
		{in: "", wantErr: "is not a size"},
		{in: "MiB", wantErr: "is not a size"},
		{in: "64mib", wantErr: "is not a size"},
		{in: "64 apples", wantErr: "is not a size"},
		{in: "1e3", wantErr: "is not a size"},
		{in: "0x10", wantErr: "is not a size"},
		{in: "Inf", wantErr: "is not a size"},
		{in: "NaN", wantErr: "is not a size"},
		{in: "-1MiB", wantErr: "must not be negative"},
		{in: "9000000TiB", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

// String reads back to the same value, in the largest exact binary unit.
func TestSizeString(t *testing.T) {
	for _, tt := range []struct {
		in   Size
		want string
	}{{0, "0B"}, {1000, "1000B"}, {1024, "1KiB"}, {64 << 20, "64MiB"}, {3 << 29, "1536MiB"}, {5 << 40, "5TiB"}, {1<<20 + 1, "1048577B"}} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in.String(), back, err, tt.in)
		}
	}
}

// storage.min_free arrives the same from YAML, env and flags, and bad
// values name the key and their source.
func TestStorageSettings(t *testing.T) {
	c := Default()
	if c.Storage.MinFree != 64<<20 || c.Storage.UploadPurgeAge.D().Hours() != 24 || c.Storage.UploadPurgeInterval.D().Hours() != 1 {
		t.Fatalf("defaults: %+v", c.Storage)
	}
	if err := c.LoadYAML("c.yaml", []byte("storage:\n  min_free: 1GiB\n  upload_purge_age: 48h\n")); err != nil {
		t.Fatal(err)
	}
	if c.Storage.MinFree != 1<<30 || c.Storage.UploadPurgeAge.D().Hours() != 48 {
		t.Errorf("from YAML: %+v", c.Storage)
	}
	if err := c.LoadYAML("c.yaml", []byte("storage:\n  min_free: 0\n")); err != nil || c.Storage.MinFree != 0 {
		t.Errorf("min_free: 0 from YAML = %d, %v; want 0 (off)", c.Storage.MinFree, err)
	}
	if err := c.LoadEnv([]string{"REGISTRY_STACK_STORAGE_MIN_FREE=256Mi"}); err != nil || c.Storage.MinFree != 256<<20 {
		t.Errorf("from env: %d, %v", c.Storage.MinFree, err)
	}

	bad := []struct{ yaml, env, want string }{
		{yaml: "storage:\n  min_free: lots\n", want: `line 2: "lots" is not a size`},
		{yaml: "storage:\n  min_free: -5MiB\n", want: "must not be negative"},
		{env: "REGISTRY_STACK_STORAGE_MIN_FREE=5 apples", want: `environment variable REGISTRY_STACK_STORAGE_MIN_FREE: storage.min_free: "5 apples" is not a size`},
		{yaml: "storage:\n  upload_purge_age: 10m\n", want: "storage.upload_purge_age: 10m0s is shorter than 1h0m0s"},
		{yaml: "storage:\n  upload_purge_interval: 0s\n", want: "storage.upload_purge_interval: 0s is shorter than 1m0s"},
	}
	for _, tt := range bad {
		c := Default()
		err := c.LoadYAML("c.yaml", []byte(tt.yaml))
		if err == nil && tt.env != "" {
			err = c.LoadEnv([]string{tt.env})
		}
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q %q: err = %v, want it to contain %q", tt.yaml, tt.env, err, tt.want)
		}
	}
}
