package registryerrors

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// apiPath splits /v2/<name>/<kind>/... (the same split internal/registry
// uses for paths no route matches).
var apiPath = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs|tags)/`)

var (
	wholeName = regexp.MustCompile(`^(?:` + reference.NameRegexp.String() + `)$`)
	wholeTag  = regexp.MustCompile(`^(?:` + reference.TagRegexp.String() + `)$`)
	// contentRange is what distribution's parseContentRange accepts
	// without overflowing.
	contentRange = regexp.MustCompile(`^[0-9]{1,18}-[0-9]{1,18}$`)
	// uploadID is what the filesystem driver can store as one path
	// component; distribution's own ids are UUIDs.
	uploadID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)
)

// check refuses requests whose shape alone makes distribution answer 500,
// often with the storage path in the body, and the API base's methods it
// would wrongly accept. It runs before the registry's authentication, as
// the registry's own checks of malformed names do.
func check(r *http.Request) *answer {
	p := r.URL.Path
	q := r.URL.Query()
	if p == "/v2/" {
		// distribution answers 200 to any method here; OPTIONS is left to
		// whatever answers preflights.
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return nil
		}
		return &answer{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED", Message: "the API base answers GET and HEAD only"}
	}
	if p == "/v2/_catalog" {
		// The filesystem driver opens a path built from "last".
		if last := q.Get("last"); last != "" && (len(last) > reference.RepositoryNameTotalLengthMax || !wholeName.MatchString(last)) {
			return &answer{Status: http.StatusBadRequest, Code: "NAME_INVALID", Message: "last must be a repository name, as in the catalog's Link header"}
		}
		return nil
	}
	m := apiPath.FindStringSubmatch(p)
	if m == nil {
		return nil
	}
	name, kind, rest := m[1], m[2], strings.TrimPrefix(p, m[0])
	if len(name) > reference.RepositoryNameTotalLengthMax {
		return &answer{Status: http.StatusBadRequest, Code: "NAME_INVALID", Message: reference.ErrNameTooLong.Error()}
	}
	switch {
	case kind == "tags" && rest == "list":
		if last := q.Get("last"); last != "" && !wholeTag.MatchString(last) {
			return &answer{Status: http.StatusBadRequest, Code: "TAG_INVALID", Message: "last must be a tag, as in the tag list's Link header"}
		}
	case kind == "blobs" && strings.HasPrefix(rest, "uploads/") && rest != "uploads/":
		if id := strings.TrimPrefix(rest, "uploads/"); !strings.Contains(id, "/") && !uploadID.MatchString(id) {
			return &answer{Status: http.StatusNotFound, Code: "BLOB_UPLOAD_UNKNOWN", Message: "no such upload: upload ids are the ones POST answers in Location"}
		}
		return checkUpload(r)
	}
	return nil
}

// checkUpload refuses what distribution's PATCH and PUT of an upload would
// answer with 500.
func checkUpload(r *http.Request) *answer {
	if r.Method != http.MethodPatch && r.Method != http.MethodPut {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); r.Method == http.MethodPatch && ct != "" && ct != "application/octet-stream" {
		return &answer{Status: http.StatusUnsupportedMediaType, Code: "BLOB_UPLOAD_INVALID", Message: "an upload chunk's Content-Type must be application/octet-stream"}
	}
	// distribution reads Content-Range only together with Content-Length.
	if cr := r.Header.Get("Content-Range"); cr != "" && r.Header.Get("Content-Length") != "" && !contentRange.MatchString(cr) {
		return &answer{Status: http.StatusRequestedRangeNotSatisfiable, Code: "RANGE_INVALID", Message: "Content-Range must be a byte range such as 0-1023"}
	}
	return nil
}
