package importer

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// counter is the HTTP transport under the registry client: it counts the
// blobs the registry already had (a HEAD answered 200, after which the
// client skips the upload), the blobs committed (the upload's final
// PUT ?digest= answered 201), the bytes of the upload bodies the
// registry accepted, as the registry saw them, and the manifests written
// (PUT answered 201) and found present (HEAD answered 200, and no PUT to
// the same tag or digest followed: a tag pointing elsewhere is moved).
type counter struct {
	base         http.RoundTripper
	skippedBytes func(int64) // for progress; may be nil

	mu                 sync.Mutex
	upCount, skipCount int
	upBytes, skipBytes int64
	manifestsWritten   int
	manifestsPresent   map[string]bool // paths of manifests HEAD found
}

// newCounter wraps base; onSkip, when not nil, is told the size of each
// blob skipped.
func newCounter(base http.RoundTripper, onSkip func(int64)) *counter {
	return &counter{base: base, skippedBytes: onSkip, manifestsPresent: map[string]bool{}}
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	p := req.URL.Path
	upload := strings.Contains(p, "/blobs/uploads/")
	manifest := strings.Contains(p, "/manifests/")
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case req.Method == http.MethodHead && resp.StatusCode == http.StatusOK && manifest:
		c.manifestsPresent[p] = true
	case req.Method == http.MethodPut && resp.StatusCode == http.StatusCreated && manifest:
		c.manifestsWritten++
		delete(c.manifestsPresent, p)
	case req.Method == http.MethodHead && resp.StatusCode == http.StatusOK && strings.Contains(p, "/blobs/") && !upload:
		size, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
		c.skipCount++
		c.skipBytes += size
		if c.skippedBytes != nil {
			c.skippedBytes(size)
		}
	case req.Method == http.MethodPut && resp.StatusCode == http.StatusCreated && upload:
		c.upCount++
	case req.Method == http.MethodPatch && resp.StatusCode < 300 && upload && req.ContentLength > 0:
		c.upBytes += req.ContentLength
	}
	return resp, nil
}

// totals: blobs committed and the bytes sent, blobs skipped and theirs.
func (c *counter) totals() (up int, upBytes int64, skipped int, skippedBytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upCount, c.upBytes, c.skipCount, c.skipBytes
}

// manifests: written, and found already present.
func (c *counter) manifests() (written, present int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.manifestsWritten, len(c.manifestsPresent)
}
