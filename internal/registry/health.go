package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

const (
	// probeEvery is how long a write probe's result is reused: a probe
	// every second (a kubelet, a load balancer) must not become a write
	// every second, on a local disk or an object store.
	probeEvery = 5 * time.Second
	// probeRoot is where write probes go, outside distribution's /docker
	// tree so nothing of the registry's ever sees them.
	probeRoot = "/registry-stack/write-probe"
)

// storageHealth answers whether the storage can take writes: a free-space
// threshold on the local filesystem and a tiny write through the driver.
type storageHealth struct {
	driver storagedriver.StorageDriver
	// fsRoot is the filesystem driver's root directory; empty for object
	// stores, which have no free space to measure.
	fsRoot  string
	minFree int64
	// readOnly: distribution's maintenance.readonly mode is on, so no
	// write is expected to work and none is tried.
	readOnly bool
	// probeDir is this process's own probe directory, so replicas on
	// shared storage never delete each other's probe.
	probeDir string
	probe    *memo[struct{}]
}

func newStorageHealth(driver storagedriver.StorageDriver, dcfg *configuration.Configuration, minFree int64) (*storageHealth, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("write probe id: %w", err)
	}
	h := &storageHealth{
		driver:   driver,
		fsRoot:   filesystemRoot(dcfg),
		minFree:  minFree,
		readOnly: readOnlyMode(dcfg),
		probeDir: probeRoot + "/" + hex.EncodeToString(id),
	}
	h.probe = newMemo(probeEvery, func(ctx context.Context) (struct{}, error) { return struct{}{}, h.writeProbe(ctx) })
	return h, nil
}

// filesystemRoot is the filesystem driver's root directory, or "" for
// every other driver.
func filesystemRoot(dcfg *configuration.Configuration) string {
	if dcfg.Storage.Type() != "filesystem" {
		return ""
	}
	if root, ok := dcfg.Storage.Parameters()["rootdirectory"]; ok && fmt.Sprint(root) != "" {
		return fmt.Sprint(root)
	}
	return "/var/lib/registry" // distribution's default
}

// readOnlyMode reports distribution's storage.maintenance.readonly.enabled.
func readOnlyMode(dcfg *configuration.Configuration) bool {
	ro, _ := dcfg.Storage["maintenance"]["readonly"].(map[any]any)
	enabled, _ := ro["enabled"].(bool)
	return enabled
}

// check reports every reason the storage cannot take writes, in one line.
func (h *storageHealth) check(ctx context.Context) error {
	var problems []string
	if h.fsRoot != "" && h.minFree > 0 {
		free, err := freeBytes(h.fsRoot)
		switch {
		case err != nil:
			problems = append(problems, "free space: "+h.clean(err))
		case free < h.minFree:
			problems = append(problems, fmt.Sprintf("%s free, below storage.min_free %s", mibs(free), mibs(h.minFree)))
		}
	}
	if !h.readOnly {
		if _, err := h.probe.get(ctx); err != nil {
			problems = append(problems, h.clean(err))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// writeProbe writes and deletes a tiny object. The whole probe directory
// is deleted, also after a failure, so a failed write (which can leave a
// temporary file behind) does not pile up files on a full disk.
func (h *storageHealth) writeProbe(ctx context.Context) error {
	err := h.driver.PutContent(ctx, h.probeDir+"/probe", []byte("registry-stack write probe\n"))
	derr := h.driver.Delete(ctx, h.probeDir)
	var notFound storagedriver.PathNotFoundError
	switch {
	case err != nil:
		return fmt.Errorf("write probe: %w", err)
	case derr != nil && !errors.As(derr, &notFound):
		return fmt.Errorf("write probe: delete: %w", derr)
	}
	return nil
}

// clean makes a storage error fit for /readyz's public answer: an OS error
// becomes its errno text ("no space left on device"), and the filesystem
// root never appears.
func (h *storageHealth) clean(err error) string {
	if errno, ok := errnoOf(err); ok {
		// The wrapping prefix ("write probe: ") says which step failed.
		if prefix, _, ok := strings.Cut(err.Error(), ": "); ok && !strings.HasPrefix(prefix, "/") && !strings.Contains(prefix, " /") {
			return prefix + ": " + errno.Error()
		}
		return errno.Error()
	}
	msg := err.Error()
	if h.fsRoot != "" {
		msg = strings.ReplaceAll(msg, h.fsRoot, "<storage root>")
	}
	return msg
}

// errnoOf finds the OS error under err, also inside distribution's
// storagedriver.Error, which does not unwrap.
func errnoOf(err error) (syscall.Errno, bool) {
	for range 8 { // drivers nest a few levels at most
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return errno, true
		}
		var de storagedriver.Error
		if !errors.As(err, &de) || de.Detail == nil {
			return 0, false
		}
		err = de.Detail
	}
	return 0, false
}

// freeBytes is the space unprivileged writers may still use on the
// filesystem holding root, measured at root's nearest existing ancestor
// (the root itself appears with the first push).
func freeBytes(root string) (int64, error) {
	dir := filepath.Clean(root)
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(dir, &st)
		if err == nil {
			return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return 0, fmt.Errorf("statfs: %w", err)
		}
		dir = parent
	}
}

func mibs(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// memo runs f at most once per ttl and shares its result: concurrent
// callers wait for the one run in progress (or their own context), later
// callers get the stored result until it is ttl old.
type memo[T any] struct {
	ttl time.Duration
	f   func(context.Context) (T, error)
	now func() time.Time

	mu      sync.Mutex
	have    bool
	at      time.Time
	val     T
	err     error
	running chan struct{} // closed when the run in progress ends
}

func newMemo[T any](ttl time.Duration, f func(context.Context) (T, error)) *memo[T] {
	return &memo[T]{ttl: ttl, f: f, now: time.Now}
}

func (m *memo[T]) get(ctx context.Context) (T, error) {
	for {
		m.mu.Lock()
		if m.have && m.now().Sub(m.at) < m.ttl {
			v, err := m.val, m.err
			m.mu.Unlock()
			return v, err
		}
		if running := m.running; running != nil {
			m.mu.Unlock()
			select {
			case <-running:
				continue
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		running := make(chan struct{})
		m.running = running
		m.mu.Unlock()

		v, err := m.f(ctx)

		m.mu.Lock()
		m.have, m.at, m.val, m.err, m.running = true, m.now(), v, err, nil
		m.mu.Unlock()
		close(running)
		return v, err
	}
}
