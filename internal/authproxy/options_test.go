package authproxy

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestOptionsNotForwarded: OPTIONS is answered here and never reaches
// Keycloak, which knows nothing of the stack's origins; the CORS grants
// themselves are internal/cors's, in front of this handler.
func TestOptionsNotForwarded(t *testing.T) {
	var upstreamCalls atomic.Int32
	kc := fakeKeycloak(t, func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(recordedToken))
	})
	h, err := New(Options{UpstreamURL: mustURL(t, kc.URL+"/realms/demo/protocol/docker-v2/auth"), KeycloakRealm: "demo", Service: "registry", Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []map[string]string{
		nil,
		{"Authorization": basic("alice", "pw")},
		{"Origin": "https://ui.example.com", "Access-Control-Request-Method": "GET"},
	} {
		req := httptest.NewRequest(http.MethodOptions, "http://registry.internal:5000/auth/realms/demo/protocol/docker-v2/auth?service=registry", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent || rec.Header().Get("Allow") != "GET, OPTIONS" {
			t.Errorf("OPTIONS %v = %d Allow %q, want 204 Allow GET, OPTIONS", hdr, rec.Code, rec.Header().Get("Allow"))
		}
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("OPTIONS %v: Allow-Origin %q from the token handler itself", hdr, got)
		}
	}
	if n := upstreamCalls.Load(); n != 0 {
		t.Errorf("Keycloak called %d times for OPTIONS", n)
	}
}
