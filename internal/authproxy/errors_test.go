package authproxy

import (
	"net/http"
	"strings"
	"testing"
)

func TestClassifyRecordedKeycloakAnswers(t *testing.T) {
	const loginErrorPage = `<!DOCTYPE html><html class="login-pf"><body id="keycloak-bg" data-page-id="login-error">We are sorry...</body></html>`
	tests := []struct {
		name        string
		answer      upstreamAnswer
		requested   string
		wantStatus  int
		wantCode    string
		wantInMsg   []string
		wantRetryAf string
	}{
		{
			name:       "unknown realm",
			answer:     upstreamAnswer{status: 404, statusText: "404 Not Found", contentType: "application/json", body: []byte(`{"error":"Realm does not exist"}`)},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN",
			wantInMsg: []string{"keycloak.realm", `"demo"`},
		},
		{
			name:       "docker feature off",
			answer:     upstreamAnswer{status: 404, statusText: "404 Not Found", contentType: "application/json", body: []byte(`{"error":"Protocol not found"}`)},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN",
			wantInMsg: []string{"--features=docker"},
		},
		{
			name:       "wrong path in keycloak.url",
			answer:     upstreamAnswer{status: 404, statusText: "404 Not Found", contentType: "application/json", body: []byte(`{"error":"Unable to find matching target resource method"}`)},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN",
			wantInMsg: []string{"keycloak.url", "Unable to find matching target resource method"},
		},
		{
			name:       "configured service has no client",
			answer:     upstreamAnswer{status: 400, statusText: "400 Bad Request", contentType: "application/json", body: []byte(`{"error":"invalid_client","error_description":"Client specified by 'service' parameter does not exist"}`)},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN",
			wantInMsg: []string{"keycloak.service", `"registry"`, `"demo"`},
		},
		{
			name:       "configured client disabled",
			answer:     upstreamAnswer{status: 400, statusText: "400 Bad Request", contentType: "application/json", body: []byte(`{"error":"invalid_client","error_description":"Client specified by 'service' is disabled"}`)},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN",
			wantInMsg: []string{"disabled", "keycloak.service", `"registry"`},
		},
		{
			name:       "client asked for another service",
			answer:     upstreamAnswer{status: 400, statusText: "400 Bad Request", contentType: "application/json", body: []byte(`{"error":"invalid_client","error_description":"Client specified by 'service' parameter does not exist"}`)},
			requested:  "other",
			wantStatus: http.StatusBadRequest, wantCode: "DENIED",
			wantInMsg: []string{`service "other"`, `keycloak.service is "registry"`},
		},
		{
			name:       "query too long",
			answer:     upstreamAnswer{status: 414, statusText: "414 URI Too Long"},
			requested:  "registry",
			wantStatus: http.StatusRequestURITooLong, wantCode: "DENIED",
			wantInMsg: []string{"too long", "fewer scopes"},
		},
		{
			name:       "no service parameter",
			answer:     upstreamAnswer{status: 400, statusText: "400 Bad Request", contentType: "application/json", body: []byte(`{"error":"invalid_request","error_description":"service parameter must be provided"}`)},
			requested:  "",
			wantStatus: http.StatusBadRequest, wantCode: "DENIED",
			wantInMsg: []string{"service query parameter is required", `"registry"`},
		},
		{
			name:       "bad scope or non-docker client: HTML error page",
			answer:     upstreamAnswer{status: 400, statusText: "400 Bad Request", contentType: "text/html;charset=utf-8", body: []byte(loginErrorPage)},
			requested:  "registry",
			wantStatus: http.StatusBadRequest, wantCode: "DENIED",
			wantInMsg: []string{"scope", "docker-v2", "keycloak.service"},
		},
		{
			name:       "temporary password",
			answer:     upstreamAnswer{status: 302, statusText: "302 Found", location: "http://127.0.0.1:8089/realms/demo/login-actions/required-action?execution=UPDATE_PASSWORD&client_id=registry&tab_id=x"},
			requested:  "registry",
			wantStatus: http.StatusForbidden, wantCode: "DENIED",
			wantInMsg: []string{"UPDATE_PASSWORD"},
		},
		{
			name:       "redirect to https",
			answer:     upstreamAnswer{status: 301, statusText: "301 Moved Permanently", location: "https://keycloak/realms/demo/protocol/docker-v2/auth"},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN",
			wantInMsg: []string{"keycloak.url"},
		},
		{
			name:       "rate limited",
			answer:     upstreamAnswer{status: 429, statusText: "429 Too Many Requests", retryAfter: "12"},
			requested:  "registry",
			wantStatus: http.StatusTooManyRequests, wantCode: "TOOMANYREQUESTS", wantRetryAf: "12",
		},
		{
			name:       "bad gateway in front of keycloak",
			answer:     upstreamAnswer{status: 502, statusText: "502 Bad Gateway", retryAfter: "soon"},
			requested:  "registry",
			wantStatus: http.StatusServiceUnavailable, wantCode: "UNAVAILABLE", wantRetryAf: retryAfterSeconds,
			wantInMsg: []string{"502 Bad Gateway"},
		},
		{
			name:       "gateway timeout in front of keycloak",
			answer:     upstreamAnswer{status: 504, statusText: "504 Gateway Timeout"},
			requested:  "registry",
			wantStatus: http.StatusServiceUnavailable, wantCode: "UNAVAILABLE", wantRetryAf: retryAfterSeconds,
			wantInMsg: []string{"504 Gateway Timeout"},
		},
		{
			name:       "keycloak's own 500",
			answer:     upstreamAnswer{status: 500, statusText: "500 Internal Server Error"},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNAVAILABLE", wantRetryAf: retryAfterSeconds,
			wantInMsg: []string{"500 Internal Server Error"},
		},
		{
			name:       "unexpected 403",
			answer:     upstreamAnswer{status: 403, statusText: "403 Forbidden", contentType: "text/plain"},
			requested:  "registry",
			wantStatus: http.StatusBadGateway, wantCode: "UNKNOWN",
			wantInMsg: []string{"403 Forbidden", "keycloak.url"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(tt.answer, "demo", "registry", tt.requested)
			if f.Status != tt.wantStatus || f.Code != tt.wantCode {
				t.Errorf("got %d %s (%q), want %d %s", f.Status, f.Code, f.Message, tt.wantStatus, tt.wantCode)
			}
			for _, s := range tt.wantInMsg {
				if !strings.Contains(f.Message, s) {
					t.Errorf("message %q lacks %q", f.Message, s)
				}
			}
			if f.RetryAfter != tt.wantRetryAf {
				t.Errorf("Retry-After = %q, want %q", f.RetryAfter, tt.wantRetryAf)
			}
		})
	}
}
