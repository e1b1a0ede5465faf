package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that overrides a setting.
const EnvPrefix = "REGISTRY_STACK_"

// EnvName returns the environment variable for a dotted key, e.g.
// keycloak.url -> REGISTRY_STACK_KEYCLOAK_URL.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setting is one scalar leaf of Config reachable by a dotted key.
type setting struct {
	key   string
	field reflect.Value
}

func (c *Config) settings() []setting {
	var out []setting
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" || name == "distribution" || name == "policy" {
				continue
			}
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct {
				walk(prefix+name+".", fv)
				continue
			}
			out = append(out, setting{key: prefix + name, field: fv})
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

// Keys lists every settable dotted key, for docs and tests.
func (c *Config) Keys() []string {
	var keys []string
	for _, s := range c.settings() {
		keys = append(keys, s.key)
	}
	sort.Strings(keys)
	return keys
}

// Set assigns a string value to a dotted key, parsing it for the key's type.
// source names where the value came from, for the error message.
func (c *Config) Set(key, value, source string) error {
	for _, s := range c.settings() {
		if s.key != key {
			continue
		}
		if err := setScalar(s.field, value); err != nil {
			return &Error{Key: key, Source: source, Msg: err.Error()}
		}
		return nil
	}
	return &Error{Key: key, Source: source, Msg: "unknown setting"}
}

func setScalar(f reflect.Value, value string) error {
	switch f.Interface().(type) {
	case Duration:
		d, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%q is not a duration (use e.g. 30s, 5m)", value)
		}
		f.Set(reflect.ValueOf(Duration(d)))
	case Size:
		v, err := ParseSize(value)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(v))
	case string:
		f.SetString(value)
	case bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
		f.SetBool(b)
	case []string:
		var list []string
		for _, p := range strings.Split(value, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("cannot be set from text")
	}
	return nil
}

// checkText refuses control characters in every text setting: none has a
// use for them, and a newline would end up in a header, a URL or a log line
// (and check-config could not print it back as the same value).
func (c *Config) checkText() error {
	for _, s := range c.settings() {
		var values []string
		switch v := s.field.Interface().(type) {
		case string:
			values = []string{v}
		case []string:
			values = v
		}
		for _, v := range values {
			if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
				r, _ := utf8.DecodeRuneInString(v[i:])
				return &Error{Key: s.key, Msg: fmt.Sprintf("must not contain control characters (%q at byte %d)", r, i)}
			}
		}
	}
	return nil
}

// LoadEnv applies REGISTRY_STACK_* variables from environ (os.Environ form).
// An unknown REGISTRY_STACK_ variable is an error: a typo must not silently
// leave a default in place.
func (c *Config) LoadEnv(environ []string) error {
	byEnv := map[string]string{}
	for _, k := range c.Keys() {
		byEnv[EnvName(k)] = k
	}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, ok := byEnv[name]
		if !ok {
			return &Error{Source: "environment variable " + name, Msg: "unknown setting"}
		}
		if err := c.Set(key, value, "environment variable "+name); err != nil {
			return err
		}
	}
	return nil
}

// Redacted renders the config as YAML with secrets replaced, for check-config.
func (c *Config) Redacted() ([]byte, error) {
	cp := *c
	if cp.HTTPSecret != "" {
		cp.HTTPSecret = redactedValue
	}
	if cp.OIDC.ClientSecret != "" {
		cp.OIDC.ClientSecret = redactedValue
	}
	if cp.Proxy.Password != "" {
		cp.Proxy.Password = redactedValue
	}
	cp.Distribution, _ = redactMap(c.Distribution).(map[string]any)
	return yaml.Marshal(&cp)
}

const redactedValue = "<redacted>"

var secretWords = []string{"secret", "password", "token", "accesskey", "privatekey", "credential", "authorization", "key"}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redactEntry redacts the value of key k unless it is a nested section.
func redactEntry(k string, val any) any {
	if isSecretKey(k) {
		switch val.(type) {
		case map[string]any, map[any]any:
		default:
			return redactedValue
		}
	}
	return redactMap(val)
}

// redactMap copies v, replacing the values of secret-looking keys.
func redactMap(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = redactEntry(k, val)
		}
		return out
	case map[any]any:
		// YAML maps with a key that is not a string (`1: x`) decode so.
		out := make(map[any]any, len(t))
		for k, val := range t {
			out[k] = redactEntry(fmt.Sprint(k), val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = redactMap(val)
		}
		return out
	default:
		return v
	}
}
