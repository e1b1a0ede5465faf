// Package apierror writes the error answers registry-stack composes itself
// (the token endpoints, the passthrough) in the registry error format that
// docker, containerd and the UI print: {"errors":[{"code","message","detail"}]}.
package apierror

import (
	"encoding/json"
	"net/http"
)

// Error is one answer: HTTP status, registry error code, a message that
// says what to do, and a Retry-After value (seconds) when waiting helps.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter string
}

// Body is the JSON form of an answer.
type Body struct {
	Errors []Entry `json:"errors"`
}

// Entry is one error of a Body.
type Entry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail"`
}

// Write sends e. Answers are never cached: they may depend on credentials.
func Write(w http.ResponseWriter, e Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	if e.RetryAfter != "" {
		h.Set("Retry-After", e.RetryAfter)
	}
	w.WriteHeader(e.Status)
	// The body is tiny and the status is already sent; a failed write means
	// the client left.
	_ = json.NewEncoder(w).Encode(Body{Errors: []Entry{{Code: e.Code, Message: e.Message}}})
}

// Error lets an answer travel as an error until it is written.
func (e *Error) Error() string { return e.Message }
