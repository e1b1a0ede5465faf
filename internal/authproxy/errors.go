package authproxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/registry-stack/registry-stack/internal/apierror"
	"github.com/registry-stack/registry-stack/internal/shorten"
)

// maxErrorBody caps how much of a Keycloak error answer is read to classify
// it; those answers are replaced, never relayed, and are a few hundred bytes.
const maxErrorBody = 4 << 10

// failure is an answer the stack writes itself.
type failure = apierror.Error

func writeError(w http.ResponseWriter, f failure) { apierror.Write(w, f) }

// transportFailure maps an error from calling Keycloak: unreachable or slow
// is 503 (retry later), anything else that is not valid HTTP is 502.
func transportFailure(err error, timeout time.Duration) failure {
	unavailable := func(reason string) failure {
		return failure{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "keycloak unreachable: " + reason, RetryAfter: retryAfterSeconds}
	}
	var (
		netErr  net.Error
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return unavailable(fmt.Sprintf("no answer within %s", timeout))
	case errors.Is(err, syscall.ECONNREFUSED):
		return unavailable("connection refused")
	case errors.As(err, &dnsErr):
		return unavailable("host name not found")
	case errors.As(err, &certErr):
		return failure{Status: http.StatusBadGateway, Code: "UNKNOWN", Message: "keycloak's TLS certificate is not trusted: check the keycloak.url setting and the system CA certificates"}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return unavailable("cannot connect")
	// A connection dropped mid-answer is what a restarting Keycloak does.
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return unavailable("connection closed before an answer")
	default:
		return failure{Status: http.StatusBadGateway, Code: "UNAVAILABLE", Message: "keycloak gave no valid HTTP answer", RetryAfter: retryAfterSeconds}
	}
}

// transportCause drops the *url.Error wrapper, whose text carries the full
// upstream URL with the client's query string.
func transportCause(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// upstreamAnswer is what classify needs of a Keycloak answer that is neither
// a token nor a credentials rejection.
type upstreamAnswer struct {
	status      int
	statusText  string
	contentType string
	body        []byte
	location    string
	retryAfter  string
}

// keycloakError is the JSON body Keycloak uses for protocol-level errors.
type keycloakError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// classify turns Keycloak's answers (recorded from Keycloak 26) into errors
// that name the setting to fix:
//
//	unknown realm          404 {"error":"Realm does not exist"}
//	docker feature off     404 {"error":"Protocol not found"}
//	wrong path in URL      404 {"error":"Unable to find matching target resource method"}
//	unknown service        400 {"error":"invalid_client","error_description":"Client specified by 'service' parameter does not exist"}
//	disabled client        400 {"error":"invalid_client","error_description":"Client specified by 'service' is disabled"}
//	no service parameter   400 {"error":"invalid_request","error_description":"service parameter must be provided"}
//	bad scope, non-docker  400 text/html login error page
//	client as service
//	required user action   302 to .../login-actions/required-action?execution=UPDATE_PASSWORD
//	very long query        414 (no body)
//
// requested is the service the client asked for; when it differs from the
// configured one the client, not the configuration, is at fault.
func classify(a upstreamAnswer, realm, service, requested string) failure {
	var kc keycloakError
	if isJSON(a.contentType) {
		_ = json.Unmarshal(a.body, &kc) // not JSON after all: kc stays empty
	}
	said := ""
	if s := strings.TrimSpace(kc.Error + ": " + kc.Description); kc.Error != "" {
		if kc.Description == "" {
			s = kc.Error
		}
		said = " (Keycloak said: " + shorten.Text(s, 200) + ")"
	}
	misconfigured := func(msg string) failure {
		return failure{Status: http.StatusBadGateway, Code: "UNKNOWN", Message: msg}
	}
	denied := func(msg string) failure {
		return failure{Status: http.StatusBadRequest, Code: "DENIED", Message: msg}
	}
	ourService := requested == service || service == ""
	desc := strings.ToLower(kc.Description)

	switch {
	case a.status >= 200 && a.status < 300:
		return misconfigured(fmt.Sprintf("keycloak answered %d with %q instead of a JSON token: check the keycloak.url setting", a.status, a.contentType))

	case a.status >= 300 && a.status < 400:
		if action := requiredAction(a.location); action != "" {
			return failure{Status: http.StatusForbidden, Code: "DENIED", Message: fmt.Sprintf("the Keycloak account must first complete a required action (%s): log in to Keycloak realm %q in a browser", action, realm)}
		}
		return misconfigured(fmt.Sprintf("keycloak redirected the token request (%d): check the keycloak.url setting (scheme, host name and path)", a.status))

	case a.status == http.StatusNotFound && strings.EqualFold(kc.Error, "Realm does not exist"):
		return misconfigured(fmt.Sprintf("keycloak has no realm %q: check the keycloak.realm setting%s", realm, said))

	case a.status == http.StatusNotFound && strings.EqualFold(kc.Error, "Protocol not found"):
		return misconfigured("keycloak does not serve the docker-v2 protocol: start Keycloak with --features=docker" + said)

	case a.status == http.StatusNotFound:
		return misconfigured("keycloak has no docker-v2 token endpoint at the configured address: check the keycloak.url setting" + said)

	case a.status == http.StatusBadRequest && kc.Error == "invalid_client" && ourService:
		if strings.Contains(desc, "disabled") {
			return misconfigured(fmt.Sprintf("client %q in Keycloak realm %q is disabled: enable it, or check the keycloak.service setting", requested, realm))
		}
		return misconfigured(fmt.Sprintf("keycloak realm %q has no client %q: check the keycloak.service setting, which must be the client ID of a docker-v2 client in that realm", realm, requested))

	case a.status == http.StatusBadRequest && kc.Error == "invalid_client":
		return denied(fmt.Sprintf("service %q is not served here: this registry's keycloak.service is %q%s", requested, service, said))

	case a.status == http.StatusBadRequest && kc.Error == "invalid_request" && strings.Contains(desc, "service"):
		return denied(fmt.Sprintf("the service query parameter is required: this registry's keycloak.service is %q", service))

	case a.status == http.StatusBadRequest:
		return denied(fmt.Sprintf("keycloak rejected the token request: check the scope parameter, and that keycloak.service %q is a client with protocol docker-v2 in Keycloak realm %q%s", requested, realm, said))

	// Keycloak refuses a request line or headers longer than it reads
	// (414, 431): the client asked for too much at once, nothing is broken.
	case a.status == http.StatusRequestURITooLong, a.status == http.StatusRequestHeaderFieldsTooLarge:
		return failure{Status: a.status, Code: "DENIED", Message: "the token request is too long for Keycloak: ask for fewer scopes at once"}

	case a.status == http.StatusTooManyRequests:
		return failure{Status: http.StatusTooManyRequests, Code: "TOOMANYREQUESTS", Message: "keycloak is rate limiting token requests", RetryAfter: retryAfterOr(a.retryAfter)}

	// 502 and 504 come from a gateway in front of Keycloak that cannot reach
	// it: the same outage, so the same retryable answer.
	case a.status == http.StatusServiceUnavailable, a.status == http.StatusBadGateway, a.status == http.StatusGatewayTimeout:
		return failure{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "keycloak unavailable: it answered " + a.statusText, RetryAfter: retryAfterOr(a.retryAfter)}

	case a.status >= 500:
		return failure{Status: http.StatusBadGateway, Code: "UNAVAILABLE", Message: "keycloak error: it answered " + a.statusText, RetryAfter: retryAfterSeconds}

	default:
		return misconfigured(fmt.Sprintf("keycloak answered %s to the token request: check the keycloak.url setting%s", a.statusText, said))
	}
}

// requiredAction returns the action Keycloak redirects a user to finish
// (e.g. UPDATE_PASSWORD for a temporary password), or "".
func requiredAction(location string) string {
	u, err := url.Parse(location)
	if err != nil || !strings.HasSuffix(u.Path, "/login-actions/required-action") {
		return ""
	}
	if a := u.Query().Get("execution"); a != "" {
		return shorten.Text(a, 64)
	}
	return "unknown"
}

// retryAfterOr keeps Keycloak's own Retry-After when it is well formed.
func retryAfterOr(v string) string {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return v
	}
	if _, err := http.ParseTime(v); err == nil {
		return v
	}
	return retryAfterSeconds
}
