package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configsDir holds the example configurations shipped with registry-stack.
const configsDir = "../../configs"

// notConfigs are YAML files in configs/ that are not registry-stack
// configurations.
var notConfigs = map[string]bool{"compose.yaml": true}

// shippedEnv is what a user sets in the environment for a shipped
// configuration that leaves a secret out of the file.
var shippedEnv = map[string][]string{
	"pull-through-cache.yaml": {EnvName("proxy.password") + "=upstream-password"},
}

// TestExampleConfigIsTheDefaults keeps the reference file true: it must load
// to exactly Default() and mention every settable key, so a new setting or
// a changed default cannot leave it behind.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	path := filepath.Join(configsDir, "registry-stack.example.yaml")
	got, err := Load(path, nil, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	want := Default()
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
	// Compared as rendered YAML, where an empty list and no list agree.
	gotYAML, err := got.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	wantYAML, err := want.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if string(gotYAML) != string(wantYAML) {
		t.Errorf("%s differs from Default():\n--- file\n%s--- defaults\n%s", path, gotYAML, wantYAML)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range want.Keys() {
		if !mentionsKey(string(text), key) {
			t.Errorf("%s does not list the setting %s", path, key)
		}
	}
}

// mentionsKey reports whether the YAML text has the dotted key's last part
// as a key line under its section's line.
func mentionsKey(text, key string) bool {
	parts := strings.Split(key, ".")
	rest := text
	for i, p := range parts {
		indent := strings.Repeat("  ", i)
		at := strings.Index(rest, "\n"+indent+p+":")
		if at < 0 && i == 0 && strings.HasPrefix(rest, p+":") {
			at = 0
		}
		if at < 0 {
			return false
		}
		rest = rest[at+1:]
	}
	return true
}

// TestShippedConfigsLoad: every configuration in configs/ loads and
// validates, with the flags a user would add for what it leaves open.
func TestShippedConfigsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if notConfigs[filepath.Base(f)] {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f, shippedEnv[filepath.Base(f)], []Flag{{Name: "data-dir", Key: "data_dir", Value: t.TempDir()}})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Auth == AuthKeycloak && (cfg.Keycloak.URL == "" || cfg.Keycloak.Realm == "" || cfg.Keycloak.Service == "") {
				t.Errorf("keycloak mode without url, realm or service: %+v", cfg.Keycloak)
			}
		})
	}
	if n < 2 {
		t.Fatalf("found %d configurations in %s, want the example and the keycloak-mode ones", n, configsDir)
	}
}

func TestLoadLayersFlagsLast(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:6000\nlog:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file, []string{"REGISTRY_STACK_LISTEN=127.0.0.1:7000"}, []Flag{{Name: "listen", Key: "listen", Value: "127.0.0.1:8000"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8000" || cfg.Log.Level != "debug" {
		t.Errorf("listen %q, log.level %q; want the flag's 127.0.0.1:8000 and the file's debug", cfg.Listen, cfg.Log.Level)
	}
	_, err = Load("", nil, []Flag{{Name: "auth", Key: "auth", Value: "maybe"}})
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "auth" {
		t.Errorf("bad flag value: err = %v, want a *config.Error for key auth", err)
	}
	_, err = Load("", nil, []Flag{{Name: "colour", Key: "colour", Value: "red"}})
	if err == nil || !strings.Contains(err.Error(), "flag --colour") {
		t.Errorf("unknown key: err = %v, want it to name flag --colour", err)
	}
}
