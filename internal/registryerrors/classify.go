package registryerrors

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/registry-stack/registry-stack/internal/apierror"
	"github.com/registry-stack/registry-stack/internal/shorten"
)

// answer is what the client gets instead of distribution's error.
type answer = apierror.Error

// CodeInsufficientStorage is the error code of a 507: the storage is full
// or read-only.
const CodeInsufficientStorage = "INSUFFICIENT_STORAGE"

// Messages of a 507; they say what the operator must do, never where.
const (
	msgStorageFull     = "the registry's storage is full: nothing can be stored until space is freed; retry later"
	msgStorageReadOnly = "the registry's storage is read-only: nothing can be stored until it is writable again; retry later"
)

// internalMarkers are texts that only a storage path, a storage driver's
// own error or a Go library's error about our own types contains; a client
// error's detail that holds one is dropped (the code and message stay).
var internalMarkers = []string{"/docker/registry/v2/", "filesystem: ", "Path not found", "Go struct", "Go value of type", "strconv."}

// writeError sends a in the registry error format.
func writeError(w http.ResponseWriter, a *answer) { apierror.Write(w, *a) }

// finish writes the held error answer: a client error with its details
// checked, a server error classified.
func (g *guard) finish(w http.ResponseWriter, r *http.Request, h *holdErrors, bodyErr error) {
	raw := h.buf.Bytes()
	entries, ok := parse(raw)
	w.Header().Del("Content-Length")
	if h.status < 500 {
		if !ok { // not a registry error body: nothing of distribution's to check
			w.WriteHeader(h.status)
			_, _ = w.Write(raw)
			return
		}
		for i := range entries {
			if hasInternalMarker(detailText(entries[i].Detail)) {
				entries[i].Detail = nil
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(h.status)
		_ = json.NewEncoder(w).Encode(apierror.Body{Errors: entries})
		return
	}
	var details []string
	for _, e := range entries {
		details = append(details, detailText(e.Detail))
	}
	text := strings.Join(details, "; ")
	if !ok {
		text = string(raw)
	}
	a := classify(r, h.status, text, bodyErr)
	if a.Status == http.StatusInternalServerError && g.upstream != "" && strings.Contains(text, g.upstream) {
		// distribution names the upstream URL it called: only a cache's
		// calls to its upstream do that.
		a = upstreamAnswer(text)
	}
	attrs := []any{"method", r.Method, "path", shorten.Text(r.URL.Path, 300), "status", h.status, "answer", a.Status, "error", shorten.Text(text, 2000)}
	switch {
	case a.Status < 500:
		g.log.InfoContext(r.Context(), "registry server error answered as a client error", attrs...)
	case a.Status == http.StatusInsufficientStorage:
		g.log.ErrorContext(r.Context(), "storage is full or read-only", attrs...)
	default:
		g.log.ErrorContext(r.Context(), "registry server error", attrs...)
	}
	writeError(w, a)
}

// Answers to a pull of content a cache does not hold, when fetching it from
// its upstream failed.
const (
	msgUpstreamDown    = "this pull-through cache does not hold this content and cannot reach its upstream registry now; try again later"
	msgUpstreamRefused = "this pull-through cache does not hold this content and its upstream registry refused the cache's login or pull (proxy.username, proxy.password and their rights at the upstream)"
)

// upstreamAnswer is the answer to a cache's failed call to its upstream:
// refused (401, 403: the cache's own settings are at fault, not the
// client's login, so no UNAUTHORIZED or DENIED) or unreachable.
func upstreamAnswer(text string) *answer {
	for _, refused := range []string{"unauthorized:", "denied:"} {
		if strings.Contains(text, refused) {
			return &answer{Status: http.StatusBadGateway, Code: "UNKNOWN", Message: msgUpstreamRefused}
		}
	}
	return &answer{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: msgUpstreamDown}
}

// classify turns distribution's server error into the answer the client
// gets. text is the error details distribution wrote (its internal error
// strings); bodyErr is why reading the request body failed, if it did.
func classify(r *http.Request, status int, text string, bodyErr error) *answer {
	kind := ""
	if m := apiPath.FindStringSubmatch(r.URL.Path); m != nil {
		kind = m[2]
	}
	manifestPut := kind == "manifests" && r.Method == http.MethodPut
	switch {
	case strings.Contains(text, syscall.ENOSPC.Error()), strings.Contains(text, syscall.EDQUOT.Error()):
		return &answer{Status: http.StatusInsufficientStorage, Code: CodeInsufficientStorage, Message: msgStorageFull}
	case strings.Contains(text, syscall.EROFS.Error()):
		return &answer{Status: http.StatusInsufficientStorage, Code: CodeInsufficientStorage, Message: msgStorageReadOnly}
	case bodyErr != nil:
		code := "BLOB_UPLOAD_INVALID"
		if manifestPut {
			code = "MANIFEST_INVALID"
		}
		return &answer{Status: http.StatusBadRequest, Code: code, Message: "the request body could not be read (malformed chunked encoding, or shorter than announced)"}
	case manifestPut && strings.Contains(text, digest.ErrDigestUnsupported.Error()):
		return &answer{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: "a digest in the manifest uses an unsupported algorithm (use sha256 or sha512)"}
	case manifestPut && (strings.Contains(text, digest.ErrDigestInvalidLength.Error()) || strings.Contains(text, digest.ErrDigestInvalidFormat.Error())):
		return &answer{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: "a digest in the manifest is malformed (expected algorithm:hex, e.g. sha256:…)"}
	case manifestPut && strings.Contains(text, "unrecognized manifest"): // "... schema version 3", "... list schema version 3"
		return &answer{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: "unsupported schemaVersion: image manifests and indexes have schemaVersion 2"}
	case strings.Contains(text, reference.ErrNameTooLong.Error()):
		return &answer{Status: http.StatusBadRequest, Code: "NAME_INVALID", Message: reference.ErrNameTooLong.Error()}
	}
	code := "UNKNOWN"
	if status == http.StatusServiceUnavailable {
		code = "UNAVAILABLE"
	}
	return &answer{Status: status, Code: code, Message: "the registry failed to handle this request; its log says why"}
}

// parse reads a registry error body; distribution sometimes writes one
// twice, and only the first counts.
func parse(raw []byte) ([]apierror.Entry, bool) {
	var b apierror.Body
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&b); err != nil || len(b.Errors) == 0 {
		return nil, false
	}
	return b.Errors, true
}

// detailText is a detail as text: strings as they are, anything else as
// JSON.
func detailText(d any) string {
	switch d := d.(type) {
	case nil:
		return ""
	case string:
		return d
	}
	b, err := json.Marshal(d)
	if err != nil {
		return ""
	}
	return string(b)
}

func hasInternalMarker(s string) bool {
	for _, m := range internalMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
