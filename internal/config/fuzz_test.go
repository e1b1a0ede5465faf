package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/registry-stack/registry-stack/internal/policy"
)

// FuzzLoad feeds a config file, environment variables and one flag through
// the steps of Load. It must never panic; every error must be a one-line
// *Error that names a setting or the source at fault; and an accepted
// config must stay the same when validated again and when check-config's
// output is loaded back, with every secret redacted in that output.
func FuzzLoad(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join(configsDir, "*.yaml"))
	for _, p := range examples {
		if notConfigs[filepath.Base(p)] {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), "", uint8(0), "")
	}
	keycloak := "auth: keycloak\nkeycloak:\n  url: http://kc:8080/\n  realm: r\n  service: s\n"
	for _, s := range []struct {
		yaml, env string
		flag      uint8
		value     string
	}{
		{"", "", 0, ""},
		{"listen: ':5000'\n", "REGISTRY_STACK_LOG_FORMAT=json\nPATH=/bin", 3, "x"},
		{keycloak, "REGISTRY_STACK_KEYCLOAK_CORS_ORIGINS=https://a.example, http://[::1]:80", 0, ""},
		{keycloak + "  cors_origins: ['*']\n", "", 0, ""},
		{"auth: oidc\nkeycloak: {url: 'https://kc/auth', realm: lab}\npolicy:\n  catalog: []\n", "", 0, ""},
		{"auth: oidc\nkeycloak: {url: 'https://kc', realm: lab}\npolicy:\n  repositories:\n    '${user}/**': [{who: [authenticated], actions: ['*']}]\n", "", 0, ""},
		{"distribution:\n  storage:\n    s3: {secretkey: abc, 1: x}\n  redis: {password: pw}\n", "", 0, ""},
		{"public_url: HTTPS://Reg.example:443/x/\n", "REGISTRY_STACK_SHUTDOWN_GRACE=-1s", 0, ""},
		{"lisen: x\nlog:\n  fromat: json\n", "", 0, ""},
		{"shutdown_grace: [1]\n", "REGISTRY_STACK_LISTN=x", 0, ""},
		{"&a [*a]", "", 0, ""},
	} {
		f.Add(s.yaml, s.env, s.flag, s.value)
	}
	d := Default()
	keys := d.Keys()
	f.Fuzz(func(t *testing.T, file, env string, flag uint8, value string) {
		c := Default()
		key := keys[int(flag)%len(keys)]
		err := c.LoadYAML("fuzz.yaml", []byte(file))
		if err == nil {
			err = c.LoadEnv(strings.Split(env, "\n"))
		}
		if err == nil && value != "" {
			err = c.Set(key, value, "flag --x")
		}
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			checkError(t, err)
			return
		}
		again := c
		if err := again.Validate(); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("validating an accepted config again: %v\n%#v\n%#v", err, c, again)
		}
		checkRedacted(t, &c)
	})
}

// checkError checks what every error of Load must be: an *Error naming a
// known setting, a distribution section, a policy rule or a source.
func checkError(t *testing.T, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
	switch k := ce.Key; {
	case k == "":
		if ce.Source == "" {
			t.Fatalf("error %q names neither key nor source", err)
		}
	case slices.Contains(knownKeys(), k), k == "tls", k == "policy",
		strings.HasPrefix(k, "distribution."), strings.HasPrefix(k, "policy."):
	default:
		t.Fatalf("error %q names %q, which is no setting", err, k)
	}
}

// checkRedacted loads check-config's output back: it must be the same
// config, secrets aside, and hold no secret.
func checkRedacted(t *testing.T, c *Config) {
	t.Helper()
	out, err := c.Redacted()
	if err != nil {
		t.Fatalf("Redacted: %v", err)
	}
	var generic map[string]any
	if err := yaml.Unmarshal(out, &generic); err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, out)
	}
	if path, v, ok := unredacted(generic, ""); ok {
		t.Fatalf("secret %s = %v in check-config output:\n%s", path, v, out)
	}
	back := Default()
	if err := back.LoadYAML("redacted.yaml", out); err != nil {
		t.Fatalf("loading Redacted output: %v\n%s", err, out)
	}
	if err := back.Validate(); err != nil {
		t.Fatalf("Redacted output does not validate: %v\n%s", err, out)
	}
	want := *c
	if want.HTTPSecret != "" {
		want.HTTPSecret = redactedValue
	}
	if want.OIDC.ClientSecret != "" {
		want.OIDC.ClientSecret = redactedValue
	}
	// The distribution sections are compared as rendered, since YAML has
	// several spellings of one value.
	want.Distribution, back.Distribution = nil, nil
	emptyIsNil(reflect.ValueOf(&want).Elem())
	emptyIsNil(reflect.ValueOf(&back).Elem())
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("Redacted output loads as another config:\n%s\ngot  %#v\nwant %#v", out, back, want)
	}
}

// unredacted finds a value under a secret-looking key that is not the
// redaction marker.
func unredacted(v any, path string) (string, any, bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if p, x, ok := unredactedEntry(fmt.Sprint(k), val, path); ok {
				return p, x, true
			}
		}
	case map[any]any:
		for k, val := range t {
			if p, x, ok := unredactedEntry(fmt.Sprint(k), val, path); ok {
				return p, x, true
			}
		}
	case []any:
		for i, val := range t {
			if p, x, ok := unredacted(val, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, x, true
			}
		}
	}
	return "", nil, false
}

func unredactedEntry(k string, val any, path string) (string, any, bool) {
	p := path + "." + k
	if path == "" && k != "distribution" {
		return "", nil, false // the stack's own settings are checked by the struct tags
	}
	switch val.(type) {
	case map[string]any, map[any]any, []any:
		return unredacted(val, p)
	}
	if isSecretKey(k) && val != nil && val != redactedValue {
		return p, val, true
	}
	return "", nil, false
}

func knownKeys() []string {
	c := Default()
	return c.Keys()
}

// emptyIsNil sets empty lists and maps to nil, where the two mean the same:
// everywhere but policy.catalog (absent: the default; empty: admins only).
func emptyIsNil(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type() == reflect.TypeFor[policy.Config]() && v.Type().Field(i).Name == "Catalog" {
				continue
			}
			emptyIsNil(v.Field(i))
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				emptyIsNil(v.Index(i))
			}
			return
		}
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(it.Value().Type()).Elem()
			e.Set(it.Value())
			emptyIsNil(e)
			v.SetMapIndex(it.Key(), e)
		}
	}
}
