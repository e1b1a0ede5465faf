package stack

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/registry-stack/registry-stack/internal/config"
)

// TestNotReadyWithoutSigningKeys: in keycloak mode the stack must not report
// ready before it can verify a single token, and says why.
func TestNotReadyWithoutSigningKeys(t *testing.T) {
	// A port nobody listens on: the key set can never load.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	cfg := config.Default()
	cfg.Auth = config.AuthKeycloak
	cfg.DataDir = t.TempDir()
	cfg.UI.Enabled = false
	cfg.Keycloak.URL = dead
	cfg.Keycloak.Realm = "demo"
	cfg.Keycloak.Service = "registry"
	cfg.Keycloak.Timeout = config.Duration(time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := New(ctx, &cfg, Options{PublicURL: "http://localhost:5000"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	rec := httptest.NewRecorder()
	st.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body struct {
		Ready  bool
		Checks map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("/readyz body %q: %v", rec.Body, err)
	}
	if rec.Code != http.StatusServiceUnavailable || body.Ready {
		t.Fatalf("/readyz = %d %s, want 503 before any signing key is loaded", rec.Code, rec.Body)
	}
	if msg := body.Checks["keycloak-keys"]; !strings.Contains(msg, dead) {
		t.Errorf("keycloak-keys check = %q, want it to name the URL it cannot reach (%s)", msg, dead)
	}
	if msg := body.Checks["keycloak-issuer"]; !strings.Contains(msg, dead) || !strings.Contains(msg, "keycloak.issuer") {
		t.Errorf("keycloak-issuer check = %q, want it to name %s and the keycloak.issuer setting", msg, dead)
	}
	if body.Checks["storage"] != "ok" {
		t.Errorf("storage check = %q, want ok", body.Checks["storage"])
	}

	// The registry challenges with the stack's own token endpoint.
	rec = httptest.NewRecorder()
	st.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/", nil))
	want := `Bearer realm="http://localhost:5000/auth/realms/demo/protocol/docker-v2/auth",service="registry"`
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), want) {
		t.Errorf("/v2/ = %d %q, want 401 %s", rec.Code, rec.Header().Get("WWW-Authenticate"), want)
	}
}
