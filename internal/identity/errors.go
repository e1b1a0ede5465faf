package identity

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is why a login failed, as the token endpoint should answer it:
// Status and Code for the registry error body, Message for the user (it
// names what to do and never holds a secret), RetryAfter when waiting helps.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	// cause is for the log only.
	cause error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Message + ": " + e.cause.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.cause }

// ErrInvalidCredentials marks every wrong user name, password, secret or
// token, so callers can tell them from outages with errors.Is.
var ErrInvalidCredentials = errors.New("invalid credentials")

func invalidCredentials(msg string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: msg, cause: errors.Join(ErrInvalidCredentials, cause)}
}

func denied(msg string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "DENIED", Message: msg, cause: errors.Join(ErrInvalidCredentials, cause)}
}

func throttled(wait time.Duration) *Error {
	return &Error{
		Status: http.StatusTooManyRequests, Code: "TOOMANYREQUESTS", RetryAfter: wait,
		Message: fmt.Sprintf("too many failed sign-ins: try again in %s", wait.Round(time.Second)),
	}
}

func unavailable(msg string, cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: msg, RetryAfter: 5 * time.Second, cause: cause}
}

func misconfigured(msg string, cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: msg, cause: cause}
}
