package main

import (
	"encoding/base64"
	"strings"
)

// authKind is the credential a negative case sends.
type authKind int

const (
	authFull  authKind = iota // the suite's token (nothing in mode none)
	authNone                  // no Authorization header
	authBad                   // a Bearer value that is no token
	authBasic                 // the mode's user and password as Basic
)

type negWant struct {
	status int
	code   string // "" = any code (or none)
}

// negCase is one malformed request. Paths and header values may hold the
// placeholders negTarget.expand fills.
type negCase struct {
	route, name, method, path string
	header                    map[string]string
	body                      string
	bodySize                  int    // a body of this many bytes instead of body
	rawBody                   string // sent as is, as a chunked body
	auth                      authKind
	want                      negWant
	// authed replaces want in the modes with authentication (keycloak,
	// oidc); modes replaces it for one mode.
	authed *negWant
	modes  map[string]negWant
	// authOnly cases test authentication and do not run in mode none.
	authOnly bool
}

func nc(route, name, method, path string, status int, code string) negCase {
	return negCase{route: route, name: name, method: method, path: path, want: negWant{status, code}}
}

func (c negCase) h(kv ...string) negCase {
	m := map[string]string{}
	for k, v := range c.header {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	c.header = m
	return c
}

func (c negCase) b(body string) negCase { c.body = body; return c }

func (c negCase) raw(chunked string) negCase { c.rawBody = chunked; return c }

func (c negCase) size(n int) negCase { c.bodySize = n; return c }

func (c negCase) as(a authKind) negCase { c.auth = a; return c }

func (c negCase) inAuthModes(status int, code string) negCase {
	c.authed = &negWant{status, code}
	return c
}

func (c negCase) in(mode string, status int, code string) negCase {
	m := map[string]negWant{}
	for k, v := range c.modes {
		m[k] = v
	}
	m[mode] = negWant{status, code}
	c.modes = m
	return c
}

// unauthenticated is a case the auth modes answer 401 and mode none does
// not see at all.
func unauthenticated(c negCase, a authKind) negCase {
	c.auth = a
	c.authOnly = true
	c.name += " " + map[authKind]string{authNone: "without a token", authBad: "with a bad token", authBasic: "with Basic credentials"}[a]
	c.want = negWant{401, "UNAUTHORIZED"}
	return c
}

const (
	ociManifestType = "application/vnd.oci.image.manifest.v1+json"
	ociIndexType    = "application/vnd.oci.image.index.v1+json"
	ociConfigType   = "application/vnd.oci.image.config.v1+json"
	zeroDigest      = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	md5Digest       = "md5:d41d8cd98f00b204e9800998ecf8427e"
)

// negativeCases is the table: every /v2 route, the token endpoint, the UI
// and the probes.
func negativeCases() []negCase {
	long := strings.Repeat("a", 300)
	longTag := strings.Repeat("t", 129)
	upperHex := "sha256:" + strings.Repeat("A", 64)
	shortHex := "sha256:" + strings.Repeat("0", 63)
	longHex := "sha256:" + strings.Repeat("0", 65)
	r := "/v2/" + negRepo
	other := "/v2/" + negOther
	octet := []string{"Content-Type", "application/octet-stream"}
	oci := []string{"Content-Type", ociManifestType}
	manifest := func(cfgDigest string, layers ...string) string {
		ls := make([]string, len(layers))
		for i, d := range layers {
			ls[i] = `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + d + `","size":38}`
		}
		return `{"schemaVersion":2,"mediaType":"` + ociManifestType + `","config":{"mediaType":"` + ociConfigType + `","digest":"` + cfgDigest + `","size":37},"layers":[` + strings.Join(ls, ",") + `]}`
	}
	index := func(child string) string {
		return `{"schemaVersion":2,"mediaType":"` + ociIndexType + `","manifests":[{"mediaType":"` + ociManifestType + `","digest":"` + child + `","size":100,"platform":{"os":"linux","architecture":"amd64"}}]}`
	}
	badChunk := "zz\r\nabc\r\n0\r\n\r\n"        // chunk size not hex
	shortChunk := "5\r\nab\r\n0\r\n\r\n"        // fewer bytes than announced
	hugeChunk := "fffffffffffffffffff\r\nx\r\n" // chunk size overflows

	var cs []negCase
	add := func(c ...negCase) { cs = append(cs, c...) }

	// GET /v2/ (the API base)
	base := "base"
	add(
		nc(base, "POST", "POST", "/v2/", 405, "UNSUPPORTED"),
		nc(base, "PUT", "PUT", "/v2/", 405, "UNSUPPORTED"),
		nc(base, "DELETE", "DELETE", "/v2/", 405, "UNSUPPORTED"),
		nc(base, "PATCH", "PATCH", "/v2/", 405, "UNSUPPORTED"),
		nc(base, "unknown endpoint", "GET", "/v2/nothing/here", 404, "UNSUPPORTED"),
		nc(base, "v2 prefix only", "GET", "/v2foo", 404, "UNSUPPORTED"),
		unauthenticated(nc(base, "GET", "GET", "/v2/", 0, ""), authNone),
		unauthenticated(nc(base, "GET", "GET", "/v2/", 0, ""), authBad),
		unauthenticated(nc(base, "GET", "GET", "/v2/", 0, ""), authBasic),
		unauthenticated(nc(base, "GET empty Bearer", "GET", "/v2/", 0, "").h("Authorization", "Bearer "), authNone),
		unauthenticated(nc(base, "GET unsigned token", "GET", "/v2/", 0, "").h("Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), authNone),
	)

	// GET /v2/_catalog
	cat := "catalog"
	add(
		nc(cat, "negative n", "GET", "/v2/_catalog?n=-1", 400, "PAGINATION_NUMBER_INVALID"),
		nc(cat, "n not a number", "GET", "/v2/_catalog?n=abc", 400, "PAGINATION_NUMBER_INVALID"),
		nc(cat, "fractional n", "GET", "/v2/_catalog?n=1.5", 400, "PAGINATION_NUMBER_INVALID"),
		nc(cat, "n overflowing", "GET", "/v2/_catalog?n=99999999999999999999", 400, "PAGINATION_NUMBER_INVALID"),
		nc(cat, "n above maxentries", "GET", "/v2/_catalog?n=1001", 400, "PAGINATION_NUMBER_INVALID"),
		nc(cat, "very long last", "GET", "/v2/_catalog?last="+strings.Repeat(long, 20), 400, "NAME_INVALID"),
		nc(cat, "last of 300 characters", "GET", "/v2/_catalog?last="+long, 400, "NAME_INVALID"),
		nc(cat, "NUL in last", "GET", "/v2/_catalog?last=%00", 400, "NAME_INVALID"),
		nc(cat, "upper-case last", "GET", "/v2/_catalog?last=UPPER", 400, "NAME_INVALID"),
		nc(cat, "dot segments in last", "GET", "/v2/_catalog?last=../../etc", 400, "NAME_INVALID"),
		nc(cat, "empty segment in last", "GET", "/v2/_catalog?last=a//b", 400, "NAME_INVALID"),
		// distribution's catalog answers GET only; oidc mode's filter HEAD too.
		nc(cat, "HEAD with negative n", "HEAD", "/v2/_catalog?n=-1", 405, "").in("oidc", 400, ""),
		nc(cat, "POST", "POST", "/v2/_catalog", 405, ""),
		nc(cat, "DELETE", "DELETE", "/v2/_catalog", 405, ""),
		unauthenticated(nc(cat, "GET", "GET", "/v2/_catalog", 0, ""), authNone),
		unauthenticated(nc(cat, "GET", "GET", "/v2/_catalog", 0, ""), authBad),
	)

	// GET /v2/<name>/tags/list
	tags := "tags list"
	add(
		nc(tags, "negative n", "GET", r+"/tags/list?n=-1", 400, "PAGINATION_NUMBER_INVALID"),
		nc(tags, "n not a number", "GET", r+"/tags/list?n=x", 400, "PAGINATION_NUMBER_INVALID"),
		nc(tags, "fractional n", "GET", r+"/tags/list?n=0.5", 400, "PAGINATION_NUMBER_INVALID"),
		nc(tags, "very long last", "GET", r+"/tags/list?last="+strings.Repeat(long, 20), 400, "TAG_INVALID"),
		nc(tags, "last not a tag", "GET", r+"/tags/list?last=-bad", 400, "TAG_INVALID"),
		nc(tags, "NUL in last", "GET", r+"/tags/list?last=%00", 400, "TAG_INVALID"),
		nc(tags, "slash in last", "GET", r+"/tags/list?last=a/b", 400, "TAG_INVALID"),
		nc(tags, "upper-case repository", "GET", "/v2/Neg/App/tags/list", 400, "NAME_INVALID"),
		nc(tags, "repository name over 255", "GET", "/v2/"+long+"/tags/list", 400, "NAME_INVALID"),
		nc(tags, "empty path component", "GET", "/v2/neg//app/tags/list", 400, "NAME_INVALID"),
		nc(tags, "underscore-led component", "GET", "/v2/_neg/tags/list", 400, "NAME_INVALID"),
		nc(tags, "unknown repository", "GET", other+"/tags/list", 404, "NAME_UNKNOWN"),
		nc(tags, "no list", "GET", r+"/tags/", 404, "UNSUPPORTED"),
		nc(tags, "beyond list", "GET", r+"/tags/list/extra", 404, "UNSUPPORTED"),
		nc(tags, "POST", "POST", r+"/tags/list", 405, ""),
		nc(tags, "DELETE", "DELETE", r+"/tags/list", 405, ""),
		unauthenticated(nc(tags, "GET", "GET", r+"/tags/list", 0, ""), authNone),
		unauthenticated(nc(tags, "GET", "GET", r+"/tags/list", 0, ""), authBad),
	)

	// GET and HEAD /v2/<name>/manifests/<reference>
	for _, method := range []string{"GET", "HEAD"} {
		mg := "manifests " + method
		add(
			nc(mg, "tag starting with a dash", method, r+"/manifests/-bad", 400, "TAG_INVALID"),
			nc(mg, "tag of 129 characters", method, r+"/manifests/"+longTag, 400, "TAG_INVALID"),
			nc(mg, "short digest", method, r+"/manifests/sha256:abc", 400, "DIGEST_INVALID"),
			nc(mg, "unknown algorithm", method, r+"/manifests/"+md5Digest, 400, "DIGEST_INVALID"),
			nc(mg, "upper-case hex", method, r+"/manifests/"+upperHex, 400, "DIGEST_INVALID"),
			nc(mg, "63 hex digits", method, r+"/manifests/"+shortHex, 400, "DIGEST_INVALID"),
			nc(mg, "65 hex digits", method, r+"/manifests/"+longHex, 400, "DIGEST_INVALID"),
			nc(mg, "unknown tag", method, r+"/manifests/nope", 404, "MANIFEST_UNKNOWN"),
			nc(mg, "unknown digest", method, r+"/manifests/"+zeroDigest, 404, "MANIFEST_UNKNOWN"),
			nc(mg, "unknown repository", method, other+"/manifests/v1", 404, ""),
			nc(mg, "upper-case repository", method, "/v2/Neg/manifests/v1", 400, "NAME_INVALID"),
			nc(mg, "repository name over 255", method, "/v2/"+long+"/manifests/v1", 400, "NAME_INVALID"),
			nc(mg, "empty reference", method, r+"/manifests/", 400, "TAG_INVALID"),
			nc(mg, "encoded slash in tag", method, r+"/manifests/v1%2Fx", 400, "TAG_INVALID"),
			unauthenticated(nc(mg, "existing tag", method, r+"/manifests/v1", 0, ""), authNone),
			unauthenticated(nc(mg, "existing tag", method, r+"/manifests/v1", 0, ""), authBad),
		)
	}
	// The bodies of HEAD answers are empty: codes are not checked.
	for i := range cs {
		if cs[i].method == "HEAD" {
			cs[i].want.code = ""
			if cs[i].authed != nil {
				cs[i].authed.code = ""
			}
		}
	}

	// PUT /v2/<name>/manifests/<reference>
	mp := "manifests PUT"
	put := func(name, body string, status int, code string) negCase {
		return nc(mp, name, "PUT", r+"/manifests/neg", status, code).h(oci...).b(body)
	}
	add(
		put("not JSON", "{garbage", 400, "MANIFEST_INVALID"),
		put("empty body", "", 400, "MANIFEST_INVALID"),
		put("null", "null", 400, "MANIFEST_INVALID"),
		put("array", "[]", 400, "MANIFEST_INVALID"),
		put("string", `"manifest"`, 400, "MANIFEST_INVALID"),
		put("schemaVersion 3", `{"schemaVersion":3}`, 400, "MANIFEST_INVALID"),
		put("schemaVersion 1 as OCI", `{"schemaVersion":1}`, 400, "MANIFEST_INVALID"),
		put("schemaVersion -1", `{"schemaVersion":-1}`, 400, "MANIFEST_INVALID"),
		put("schemaVersion as a string", `{"schemaVersion":"2"}`, 400, "MANIFEST_INVALID"),
		put("config digest too short", manifest("sha256:abc"), 400, "MANIFEST_INVALID"),
		put("config digest of unknown algorithm", manifest(md5Digest), 400, "MANIFEST_INVALID"),
		put("config digest without algorithm", manifest("0123456789"), 400, "DIGEST_INVALID"),
		put("layer digest malformed", manifest("{config}", "sha256:zz"), 400, "MANIFEST_INVALID"),
		put("layer digest of unknown algorithm", manifest("{config}", md5Digest), 400, "MANIFEST_INVALID"),
		put("layer digest upper-case", manifest("{config}", upperHex), 400, "DIGEST_INVALID"),
		put("unknown layer", manifest("{config}", zeroDigest), 400, "MANIFEST_BLOB_UNKNOWN"),
		put("unknown config", manifest(zeroDigest), 400, "MANIFEST_BLOB_UNKNOWN"),
		nc(mp, "index with a malformed child digest", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h("Content-Type", ociIndexType).b(index("sha256:zz")),
		nc(mp, "index with a child of unknown algorithm", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h("Content-Type", ociIndexType).b(index(md5Digest)),
		nc(mp, "index with an unknown child", "PUT", r+"/manifests/neg", 400, "MANIFEST_BLOB_UNKNOWN").h("Content-Type", ociIndexType).b(index(zeroDigest)),
		nc(mp, "index with schemaVersion 3", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h("Content-Type", ociIndexType).b(`{"schemaVersion":3,"manifests":[]}`),
		nc(mp, "docker manifest with a malformed digest", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h("Content-Type", "application/vnd.docker.distribution.manifest.v2+json").
			b(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}`),
		nc(mp, "docker schema 1", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws").b(`{"schemaVersion":1}`),
		nc(mp, "Content-Type application/json", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h("Content-Type", "application/json").b(manifest("{config}")),
		nc(mp, "no Content-Type", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").b(manifest("{config}")),
		put("body not matching the digest in the path", manifest("{config}"), 400, "DIGEST_INVALID"),
		nc(mp, "tag starting with a dash", "PUT", r+"/manifests/-bad", 400, "TAG_INVALID").h(oci...).b(manifest("{config}")),
		nc(mp, "repository name over 255", "PUT", "/v2/"+long+"/manifests/v1", 400, "NAME_INVALID").h(oci...).b(manifest("{config}")),
		nc(mp, "upper-case repository", "PUT", "/v2/Neg/manifests/v1", 400, "NAME_INVALID").h(oci...).b(manifest("{config}")),
		put("mediaType not matching Content-Type", index(zeroDigest), 400, "MANIFEST_INVALID"),
		put("deeply nested JSON", strings.Repeat("[", 100000)+strings.Repeat("]", 100000), 400, "MANIFEST_INVALID"),
		put("invalid UTF-8", "{\"schemaVersion\":2,\"x\":\"\xff\xfe\"}", 400, ""),
		nc(mp, "over 4 MiB", "PUT", r+"/manifests/neg", 400, "").h(oci...).size(5<<20),
		nc(mp, "malformed chunked body", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h(oci...).raw(badChunk),
		nc(mp, "chunked body cut short", "PUT", r+"/manifests/neg", 400, "MANIFEST_INVALID").h(oci...).raw(shortChunk),
		unauthenticated(nc(mp, "valid manifest", "PUT", r+"/manifests/neg", 0, "").h(oci...).b(manifest("{config}")), authNone),
		unauthenticated(nc(mp, "valid manifest", "PUT", r+"/manifests/neg", 0, "").h(oci...).b(manifest("{config}")), authBad),
	)
	// The digest case needs a digest in the path.
	for i := range cs {
		if cs[i].name == "body not matching the digest in the path" {
			cs[i].path = r + "/manifests/" + zeroDigest
		}
	}

	// DELETE /v2/<name>/manifests/<reference>
	md := "manifests DELETE"
	add(
		nc(md, "unknown tag", "DELETE", r+"/manifests/nope", 404, "MANIFEST_UNKNOWN"),
		nc(md, "unknown digest", "DELETE", r+"/manifests/"+zeroDigest, 404, "MANIFEST_UNKNOWN"),
		nc(md, "short digest", "DELETE", r+"/manifests/sha256:abc", 400, "DIGEST_INVALID"),
		nc(md, "unknown algorithm", "DELETE", r+"/manifests/"+md5Digest, 400, "DIGEST_INVALID"),
		nc(md, "upper-case hex", "DELETE", r+"/manifests/"+upperHex, 400, "DIGEST_INVALID"),
		nc(md, "repository name over 255", "DELETE", "/v2/"+long+"/manifests/"+zeroDigest, 400, "NAME_INVALID"),
		nc(md, "upper-case repository", "DELETE", "/v2/Neg/manifests/"+zeroDigest, 400, "NAME_INVALID"),
		nc(md, "digest known elsewhere only", "DELETE", other+"/manifests/{manifest}", 404, ""),
		unauthenticated(nc(md, "existing", "DELETE", r+"/manifests/{manifest}", 0, ""), authNone),
		unauthenticated(nc(md, "existing", "DELETE", r+"/manifests/{manifest}", 0, ""), authBad),
	)

	// GET, HEAD and DELETE /v2/<name>/blobs/<digest>
	for _, method := range []string{"GET", "HEAD", "DELETE"} {
		bg := "blobs " + method
		add(
			nc(bg, "short digest", method, r+"/blobs/sha256:abc", 400, "DIGEST_INVALID"),
			nc(bg, "not a digest", method, r+"/blobs/notadigest", 400, "DIGEST_INVALID"),
			nc(bg, "unknown algorithm", method, r+"/blobs/"+md5Digest, 400, "DIGEST_INVALID"),
			nc(bg, "upper-case hex", method, r+"/blobs/"+upperHex, 400, "DIGEST_INVALID"),
			nc(bg, "unknown blob", method, r+"/blobs/"+zeroDigest, 404, "BLOB_UNKNOWN"),
			nc(bg, "blob of another repository", method, other+"/blobs/{blob}", 404, "BLOB_UNKNOWN"),
			nc(bg, "repository name over 255", method, "/v2/"+long+"/blobs/"+zeroDigest, 400, "NAME_INVALID"),
			nc(bg, "upper-case repository", method, "/v2/Neg/blobs/"+zeroDigest, 400, "NAME_INVALID"),
			unauthenticated(nc(bg, "existing blob", method, r+"/blobs/{blob}", 0, ""), authNone),
			unauthenticated(nc(bg, "existing blob", method, r+"/blobs/{blob}", 0, ""), authBad),
		)
		if method != "DELETE" {
			add(
				nc(bg, "range beyond the end", method, r+"/blobs/{blob}", 416, "").h("Range", "bytes=100-200"),
				nc(bg, "range ending before it starts", method, r+"/blobs/{blob}", 416, "").h("Range", "bytes=5-1"),
				nc(bg, "range not in bytes", method, r+"/blobs/{blob}", 416, "").h("Range", "bytes=garbage"),
			)
		}
	}
	for i := range cs {
		if cs[i].method == "HEAD" && strings.HasPrefix(cs[i].route, "blobs") {
			cs[i].want.code = ""
			if cs[i].authed != nil {
				cs[i].authed.code = ""
			}
		}
	}

	// POST /v2/<name>/blobs/uploads/ (and cross-repository mounts)
	up := "uploads POST"
	add(
		nc(up, "repository name over 255", "POST", "/v2/"+long+"/blobs/uploads/", 400, "NAME_INVALID"),
		nc(up, "upper-case repository", "POST", "/v2/Neg/blobs/uploads/", 400, "NAME_INVALID"),
		nc(up, "empty path component", "POST", "/v2/neg//app/blobs/uploads/", 400, "NAME_INVALID"),
		unauthenticated(nc(up, "new upload", "POST", r+"/blobs/uploads/", 0, ""), authNone),
		unauthenticated(nc(up, "new upload", "POST", r+"/blobs/uploads/", 0, ""), authBad),
	)
	mount := "mount"
	add(
		nc(mount, "into a repository name over 255", "POST", "/v2/"+long+"/blobs/uploads/?mount={blob}&from="+negRepo, 400, "NAME_INVALID"),
		nc(mount, "into an upper-case repository", "POST", "/v2/Neg/blobs/uploads/?mount={blob}&from="+negRepo, 400, "NAME_INVALID"),
		// A mount that cannot happen starts a normal upload, as the
		// distribution spec requires.
		nc(mount, "malformed digest falls back to an upload", "POST", other+"/blobs/uploads/?mount=sha256:zz&from="+negRepo, 202, ""),
		// With authentication the token must also grant pull on the source.
		nc(mount, "malformed source falls back to an upload", "POST", other+"/blobs/uploads/?mount={blob}&from=BAD", 202, "").inAuthModes(401, "UNAUTHORIZED"),
		nc(mount, "source over 255 falls back to an upload", "POST", other+"/blobs/uploads/?mount={blob}&from="+long, 202, "").inAuthModes(401, "UNAUTHORIZED"),
		unauthenticated(nc(mount, "existing blob", "POST", other+"/blobs/uploads/?mount={blob}&from="+negRepo, 0, ""), authNone),
		unauthenticated(nc(mount, "existing blob", "POST", other+"/blobs/uploads/?mount={blob}&from="+negRepo, 0, ""), authBad),
	)

	// PATCH /v2/<name>/blobs/uploads/<uuid>
	pa := "uploads PATCH"
	patch := func(name string, status int, code string, kv ...string) negCase {
		return nc(pa, name, "PATCH", "{upload}", status, code).h(octet...).h(kv...).b("abc")
	}
	add(
		patch("Content-Range not a range", 416, "RANGE_INVALID", "Content-Range", "abc"),
		patch("Content-Range without end", 416, "RANGE_INVALID", "Content-Range", "1-"),
		patch("Content-Range without start", 416, "RANGE_INVALID", "Content-Range", "-1"),
		patch("Content-Range in HTTP response form", 416, "RANGE_INVALID", "Content-Range", "bytes 0-2/3"),
		patch("Content-Range overflowing", 416, "RANGE_INVALID", "Content-Range", "0-99999999999999999999"),
		patch("Content-Range leaving a gap", 416, "RANGE_INVALID", "Content-Range", "100-102"),
		patch("Content-Range ending before it starts", 416, "RANGE_INVALID", "Content-Range", "2-0"),
		patch("Content-Range longer than the body", 400, "SIZE_INVALID", "Content-Range", "0-9"),
		patch("Content-Type text/plain", 415, "BLOB_UPLOAD_INVALID", "Content-Type", "text/plain"),
		patch("Content-Type of a form", 415, "BLOB_UPLOAD_INVALID", "Content-Type", "application/x-www-form-urlencoded"),
		nc(pa, "malformed chunked body", "PATCH", "{upload}", 400, "BLOB_UPLOAD_INVALID").h(octet...).raw(badChunk),
		nc(pa, "chunked body cut short", "PATCH", "{upload}", 400, "BLOB_UPLOAD_INVALID").h(octet...).raw(shortChunk),
		nc(pa, "chunk size overflowing", "PATCH", "{upload}", 400, "BLOB_UPLOAD_INVALID").h(octet...).raw(hugeChunk),
		nc(pa, "without upload state", "PATCH", "{uploadbare}", 404, "BLOB_UPLOAD_INVALID").h(octet...).b("abc"),
		nc(pa, "forged upload state", "PATCH", "{uploadbare}?_state=Zm9yZ2Vk", 404, "").h(octet...).b("abc"),
		nc(pa, "unknown upload", "PATCH", r+"/blobs/uploads/0190b3a5-0000-7000-8000-000000000000", 404, "").h(octet...).b("abc"),
		nc(pa, "upload id of 300 characters", "PATCH", r+"/blobs/uploads/"+long, 404, "BLOB_UPLOAD_UNKNOWN").h(octet...).b("abc"),
		nc(pa, "repository name over 255", "PATCH", "/v2/"+long+"/blobs/uploads/x", 400, "NAME_INVALID").h(octet...).b("abc"),
		nc(pa, "upper-case repository", "PATCH", "/v2/Neg/blobs/uploads/x", 400, "NAME_INVALID").h(octet...).b("abc"),
		unauthenticated(nc(pa, "data", "PATCH", "{upload}", 0, "").h(octet...).b("abc"), authNone),
		unauthenticated(nc(pa, "data", "PATCH", "{upload}", 0, "").h(octet...).b("abc"), authBad),
	)

	// PUT /v2/<name>/blobs/uploads/<uuid>?digest=
	pu := "uploads PUT"
	add(
		nc(pu, "no digest", "PUT", "{upload}", 400, "DIGEST_INVALID").h(octet...).b("abc"),
		nc(pu, "empty digest", "PUT", "{upload}&digest=", 400, "DIGEST_INVALID").h(octet...).b("abc"),
		nc(pu, "malformed digest", "PUT", "{upload}&digest=sha256:zz", 400, "DIGEST_INVALID").h(octet...).b("abc"),
		nc(pu, "digest of unknown algorithm", "PUT", "{upload}&digest="+md5Digest, 400, "DIGEST_INVALID").h(octet...).b("abc"),
		nc(pu, "upper-case digest", "PUT", "{upload}&digest="+upperHex, 400, "DIGEST_INVALID").h(octet...).b("abc"),
		nc(pu, "digest not matching the content", "PUT", "{upload}&digest="+zeroDigest, 400, "DIGEST_INVALID").h(octet...).b("abc"),
		nc(pu, "Content-Range not a range", "PUT", "{upload}&digest="+zeroDigest, 416, "RANGE_INVALID").h(octet...).h("Content-Range", "0-x").b("abc"),
		nc(pu, "Content-Range leaving a gap", "PUT", "{upload}&digest="+zeroDigest, 416, "RANGE_INVALID").h(octet...).h("Content-Range", "7-9").b("abc"),
		nc(pu, "malformed chunked body", "PUT", "{upload}&digest="+zeroDigest, 400, "BLOB_UPLOAD_INVALID").h(octet...).raw(badChunk),
		nc(pu, "chunked body cut short", "PUT", "{upload}&digest="+zeroDigest, 400, "BLOB_UPLOAD_INVALID").h(octet...).raw(shortChunk),
		nc(pu, "without upload state", "PUT", "{uploadbare}?digest="+zeroDigest, 404, "BLOB_UPLOAD_INVALID").h(octet...).b("abc"),
		nc(pu, "unknown upload", "PUT", r+"/blobs/uploads/0190b3a5-0000-7000-8000-000000000000?digest="+zeroDigest, 404, "").h(octet...).b("abc"),
		nc(pu, "upload id the storage cannot name", "PUT", r+"/blobs/uploads/=?digest="+zeroDigest, 404, "BLOB_UPLOAD_UNKNOWN").h(octet...).b("abc"),
		nc(pu, "repository name over 255", "PUT", "/v2/"+long+"/blobs/uploads/x?digest="+zeroDigest, 400, "NAME_INVALID").h(octet...).b("abc"),
		nc(pu, "upper-case repository", "PUT", "/v2/Neg/blobs/uploads/x?digest="+zeroDigest, 400, "NAME_INVALID").h(octet...).b("abc"),
		unauthenticated(nc(pu, "data", "PUT", "{upload}&digest="+zeroDigest, 0, "").h(octet...).b("abc"), authNone),
		unauthenticated(nc(pu, "data", "PUT", "{upload}&digest="+zeroDigest, 0, "").h(octet...).b("abc"), authBad),
	)

	// GET and DELETE /v2/<name>/blobs/uploads/<uuid>
	for _, method := range []string{"GET", "DELETE"} {
		ug := "uploads " + method
		// DELETE without the upload's state is refused before the lookup.
		unknownUpload := map[string]string{"GET": "BLOB_UPLOAD_UNKNOWN", "DELETE": "BLOB_UPLOAD_INVALID"}[method]
		add(
			nc(ug, "unknown upload", method, r+"/blobs/uploads/0190b3a5-0000-7000-8000-000000000000", 404, unknownUpload),
			nc(ug, "not an upload id", method, r+"/blobs/uploads/notauuid", 404, unknownUpload),
			nc(ug, "upload id of 300 characters", method, r+"/blobs/uploads/"+long, 404, "BLOB_UPLOAD_UNKNOWN"),
			nc(ug, "upload id the storage cannot name", method, r+"/blobs/uploads/=", 404, "BLOB_UPLOAD_UNKNOWN"),
			nc(ug, "repository name over 255", method, "/v2/"+long+"/blobs/uploads/x", 400, "NAME_INVALID"),
			nc(ug, "upper-case repository", method, "/v2/Neg/blobs/uploads/x", 400, "NAME_INVALID"),
			unauthenticated(nc(ug, "open upload", method, "{upload}", 0, ""), authNone),
			unauthenticated(nc(ug, "open upload", method, "{upload}", 0, ""), authBad),
		)
	}

	// The token endpoint: mode none has none; keycloak mode passes it to
	// Keycloak; oidc mode answers itself.
	tk := "token"
	token := func(name, method, path string, kc, oidc int) negCase {
		return nc(tk, name, method, path, 404, "UNSUPPORTED").in("keycloak", kc, "").in("oidc", oidc, "")
	}
	add(
		token("PUT", "PUT", "{token}", 405, 405),
		token("DELETE", "DELETE", "{token}", 405, 405),
		token("PATCH", "PATCH", "{token}", 405, 405),
		token("Basic that is not base64", "GET", "{token}?service=x", 401, 401).h("Authorization", "Basic !!!"),
		token("Basic without a colon", "GET", "{token}?service=x", 401, 401).h("Authorization", "Basic bm9jb2xvbg=="),
		token("unknown user", "GET", "{token}?service={service}", 401, 401).h("Authorization", "Basic bm9ib2R5Om5vcGU="),
		token("Bearer that is no token", "GET", "{token}?service={service}", 401, 401).h("Authorization", "Bearer not.a.token"),
		token("POST without grant_type", "POST", "{token}", 405, 400).h("Content-Type", "application/x-www-form-urlencoded").b("username=carol"),
		token("POST with an unknown grant_type", "POST", "{token}", 405, 400).h("Content-Type", "application/x-www-form-urlencoded").b("grant_type=bogus"),
		token("POST password grant without password", "POST", "{token}", 405, 401).h("Content-Type", "application/x-www-form-urlencoded").b("grant_type=password&username=carol&service={service}"),
		token("POST refresh grant with a bad token", "POST", "{token}", 405, 401).h("Content-Type", "application/x-www-form-urlencoded").b("grant_type=refresh_token&refresh_token=garbage&service={service}"),
		token("POST JSON", "POST", "{token}", 405, 400).h("Content-Type", "application/json").b(`{"grant_type":"password"}`),
		token("POST form of 2 MiB", "POST", "{token}", 405, 400).h("Content-Type", "application/x-www-form-urlencoded").size(2<<20),
		// oidc mode grants what was asked and is allowed: nothing, in a
		// token (200), as the token spec wants for scopes it cannot grant.
		token("malformed scope", "GET", "{token}?service={service}&scope=%00%ff", 400, 200).as(authBasic),
		token("scope of 64 KiB", "GET", "{token}?service={service}&scope="+strings.Repeat("repository:a:pull%20", 3640), 414, 200).as(authBasic),
		// A space in the request line: refused by the HTTP server itself.
		nc(tk, "unescaped space in the query", "GET", "{token}?service={service}&scope=repository:a:pull repository:b:pull", 400, "").as(authBasic),
		token("JWKS with POST", "POST", "/auth/jwks", 404, 405),
		// oidc mode has one service and takes it as meant.
		token("no service", "GET", "{token}?scope=repository:neg/app:pull", 400, 200).as(authBasic),
		token("another service", "GET", "{token}?service=elsewhere&scope=repository:neg/app:pull", 400, 400).as(authBasic),
		token("user name of 8 KiB", "GET", "{token}?service={service}", 401, 401).h("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(strings.Repeat("u", 8192)+":p"))),
	)

	// Protocol paths nothing serves
	pp := "protocol paths"
	add(
		nc(pp, "v1 search", "GET", "/v1/search?q=neg&n=25", 404, "UNSUPPORTED"),
		nc(pp, "v1 base", "GET", "/v1/", 404, "UNSUPPORTED"),
		nc(pp, "unknown auth path", "GET", "/auth/nothing", 404, "UNSUPPORTED"),
		nc(pp, "auth dot segments", "GET", "/auth/../v2/", 404, "UNSUPPORTED"),
		nc(pp, "token", "GET", "/token", 404, "UNSUPPORTED"),
	)

	// The web UI
	ui := "ui"
	add(
		nc(ui, "POST to the page", "POST", "/", 405, ""),
		nc(ui, "PUT to a repository page", "PUT", "/r/neg/app", 405, ""),
		nc(ui, "DELETE the settings", "DELETE", "/ui/config.json", 405, ""),
		nc(ui, "missing favicon", "GET", "/favicon.ico", 404, ""),
		nc(ui, "missing asset", "GET", "/static/nope.js", 404, ""),
		nc(ui, "missing asset of another version", "GET", "/static/v-0000/nope.css", 404, ""),
		nc(ui, "encoded dot segments", "GET", "/static/%2e%2e/%2e%2e/etc/passwd", 404, ""),
		nc(ui, "dot segments", "GET", "/static/../../../etc/passwd", 404, ""),
		nc(ui, "source map", "GET", "/app.js.map", 404, ""),
		nc(ui, "NUL in the path", "GET", "/static/%00.js", 404, ""),
	)

	// Probes
	pr := "probes"
	add(
		nc(pr, "POST /healthz", "POST", "/healthz", 405, "UNSUPPORTED"),
		nc(pr, "DELETE /healthz", "DELETE", "/healthz", 405, "UNSUPPORTED"),
		nc(pr, "PUT /readyz", "PUT", "/readyz", 405, "UNSUPPORTED"),
		nc(pr, "POST /readyz", "POST", "/readyz", 405, "UNSUPPORTED"),
		nc(pr, "below /healthz", "GET", "/healthz/x", 404, "UNSUPPORTED"),
		nc(pr, "below /readyz", "GET", "/readyz/x", 404, "UNSUPPORTED"),
		nc(pr, "below /metrics", "GET", "/metrics/x", 404, "UNSUPPORTED"),
		nc(pr, "metrics prefix only", "GET", "/metricsx", 404, "UNSUPPORTED"),
	)
	return cs
}
