package registry

import (
	"bytes"
	"net/http"

	"github.com/registry-stack/registry-stack/internal/apierror"
)

// maxErrorBody bounds how much of an error answer to a manifest PUT is held
// back to be inspected; distribution's are a few hundred bytes per error.
const maxErrorBody = 1 << 20

// invalidLayerURL is how distribution details a layer URL its validation
// refuses, in an UNKNOWN error (a 500 when it is the first error).
var invalidLayerURL = []byte(`"invalid URL on layer"`)

// layerURLAnswer holds back an error answer to a manifest PUT and, when
// distribution refused a layer's urls, answers 400 MANIFEST_INVALID naming
// the setting instead: the client sent a manifest this registry does not
// take, which is no server error.
type layerURLAnswer struct {
	http.ResponseWriter
	code int // held-back status; 0 while passing through
	buf  bytes.Buffer
}

func (a *layerURLAnswer) WriteHeader(code int) {
	if code >= http.StatusBadRequest && a.code == 0 {
		a.code = code
		return
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *layerURLAnswer) Write(p []byte) (int, error) {
	if a.code == 0 {
		return a.ResponseWriter.Write(p)
	}
	if a.buf.Len()+len(p) > maxErrorBody {
		a.release()
		return a.ResponseWriter.Write(p)
	}
	return a.buf.Write(p)
}

// release sends what was held back unchanged and passes the rest through.
func (a *layerURLAnswer) release() {
	if a.code == 0 {
		return
	}
	a.ResponseWriter.WriteHeader(a.code)
	_, _ = a.ResponseWriter.Write(a.buf.Bytes())
	a.code = 0
	a.buf.Reset()
}

// finish ends the answer once distribution is done.
func (a *layerURLAnswer) finish() {
	if a.code != 0 && bytes.Contains(a.buf.Bytes(), invalidLayerURL) {
		apierror.Write(a.ResponseWriter, apierror.Error{
			Status:  http.StatusBadRequest,
			Code:    "MANIFEST_INVALID",
			Message: "manifest invalid: a layer's urls are not allowed by distribution.validation.manifests.urls",
		})
		return
	}
	a.release()
}

// Unwrap lets http.ResponseController reach the connection.
func (a *layerURLAnswer) Unwrap() http.ResponseWriter { return a.ResponseWriter }
