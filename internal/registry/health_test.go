package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
)

// fullDiskFakeDriver is a real filesystem driver whose writes fail the way
// a full disk fails them (ENOSPC, with the server path in the error),
// which a unit test cannot make a real disk do on demand. It counts
// writes so tests can see the probe being rate-limited.
type fullDiskFakeDriver struct {
	storagedriver.StorageDriver
	root   string
	full   atomic.Bool
	writes atomic.Int32
}

func (d *fullDiskFakeDriver) PutContent(ctx context.Context, path string, content []byte) error {
	d.writes.Add(1)
	if d.full.Load() {
		// As distribution's filesystem driver reports it.
		return storagedriver.Error{DriverName: "filesystem", Detail: &os.PathError{Op: "write", Path: filepath.Join(d.root, path+".tmp"), Err: syscall.ENOSPC}}
	}
	return d.StorageDriver.PutContent(ctx, path, content)
}

func newFSDriver(t *testing.T, root string) storagedriver.StorageDriver {
	t.Helper()
	d, err := factory.Create(context.Background(), "filesystem", map[string]any{"rootdirectory": root})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fsConfig(root string, maintenance configuration.Parameters) *configuration.Configuration {
	s := configuration.Storage{"filesystem": configuration.Parameters{"rootdirectory": root}}
	if maintenance != nil {
		s["maintenance"] = maintenance
	}
	return &configuration.Configuration{Storage: s}
}

func TestStorageHealth(t *testing.T) {
	tests := []struct {
		name        string
		minFree     int64
		full        bool
		maintenance configuration.Parameters
		wantErr     []string // substrings; none: the check passes
	}{
		{name: "writable, threshold off"},
		{name: "writable, threshold met", minFree: 1},
		{name: "below the threshold", minFree: 1 << 62, wantErr: []string{"free, below storage.min_free"}},
		{name: "disk full", full: true, wantErr: []string{"write probe: no space left on device"}},
		{name: "disk full and below the threshold", full: true, minFree: 1 << 62, wantErr: []string{"below storage.min_free", "; write probe: no space left on device"}},
		{
			name: "read-only maintenance mode writes nothing", full: true,
			maintenance: configuration.Parameters{"readonly": map[any]any{"enabled": true}},
		},
		{
			name: "read-only mode switched off still probes", full: true,
			maintenance: configuration.Parameters{"readonly": map[any]any{"enabled": false}},
			wantErr:     []string{"no space left on device"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The root does not exist yet: free space is measured at its
			// nearest existing parent.
			root := filepath.Join(t.TempDir(), "not", "yet")
			d := &fullDiskFakeDriver{StorageDriver: newFSDriver(t, root), root: root}
			d.full.Store(tt.full)
			h, err := newStorageHealth(d, fsConfig(root, tt.maintenance), tt.minFree)
			if err != nil {
				t.Fatal(err)
			}
			err = h.check(context.Background())
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("check passed")
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if strings.Contains(err.Error(), root) || strings.Contains(err.Error(), "/tmp") {
					t.Errorf("error %q names a server path", err)
				}
			}
			// Nothing of the probe is left behind.
			if entries, err := os.ReadDir(filepath.Join(root, "registry-stack", "write-probe")); err == nil && len(entries) > 0 {
				t.Errorf("probe left %d entries behind", len(entries))
			}
		})
	}
}

// A probe every few milliseconds writes once per probeEvery; a disk that
// fills is noticed at the next write after that.
func TestWriteProbeIsRateLimited(t *testing.T) {
	root := t.TempDir()
	d := &fullDiskFakeDriver{StorageDriver: newFSDriver(t, root), root: root}
	h, err := newStorageHealth(d, fsConfig(root, nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	h.probe.now = func() time.Time { return now }
	for range 50 {
		if err := h.check(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Millisecond)
	}
	if n := d.writes.Load(); n != 1 {
		t.Fatalf("%d writes for 50 probes within %s, want 1", n, probeEvery)
	}
	d.full.Store(true)
	if err := h.check(context.Background()); err != nil {
		t.Fatalf("within %s the last result stands: %v", probeEvery, err)
	}
	now = now.Add(probeEvery)
	if err := h.check(context.Background()); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("after %s: %v, want the full disk reported", probeEvery, err)
	}
	if n := d.writes.Load(); n != 2 {
		t.Errorf("%d writes, want 2", n)
	}
}

// Concurrent callers share one run; a caller whose context ends stops
// waiting without ending the run.
func TestMemoSharesOneRun(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	m := newMemo(time.Minute, func(context.Context) (int, error) {
		runs.Add(1)
		<-release
		return 42, nil
	})
	var wg sync.WaitGroup
	results := make([]int, 20)
	for i := range results {
		wg.Go(func() { results[i], _ = m.get(context.Background()) })
	}
	// Wait until the run started and the others queue behind it.
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.get(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("get with an ended context during a run = %v, want context.Canceled", err)
	}
	close(release)
	wg.Wait()
	for i, v := range results {
		if v != 42 {
			t.Errorf("caller %d got %d", i, v)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("%d runs for %d concurrent callers, want 1", n, len(results))
	}
}

func TestCleanStorageError(t *testing.T) {
	h := &storageHealth{fsRoot: "/srv/data/registry"}
	tests := []struct {
		err  error
		want string
	}{
		{&os.PathError{Op: "open", Path: "/srv/data/registry/x", Err: syscall.EROFS}, "read-only file system"},
		{fmt.Errorf("write probe: %w", &os.PathError{Op: "open", Path: "/srv/data/registry/x", Err: syscall.ENOSPC}), "write probe: no space left on device"},
		{fmt.Errorf("write probe: %w", errors.Join(&os.PathError{Op: "write", Path: "/srv/data/registry/x", Err: syscall.ENOSPC}, errors.New("cleanup"))), "write probe: no space left on device"},
		{fmt.Errorf("write probe: %w", storagedriver.Error{DriverName: "filesystem", Detail: &os.PathError{Op: "write", Path: "/srv/data/registry/x", Err: syscall.ENOSPC}}), "write probe: no space left on device"},
		{errors.New("rename /srv/data/registry/a: gone"), "rename <storage root>/a: gone"},
		{storagedriver.PathNotFoundError{DriverName: "filesystem", Path: "/docker"}, "filesystem: Path not found: /docker"},
	}
	for _, tt := range tests {
		if got := h.clean(tt.err); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// storage.min_free cannot apply to an object store; New says so instead
// of silently ignoring it, and says nothing for filesystem storage.
func TestMinFreeOutsideFilesystemIsLogged(t *testing.T) {
	for _, tt := range []struct {
		yaml    string
		wantLog bool
	}{
		{"distribution:\n  storage:\n    inmemory: {}\n", true},
		{"", false},
	} {
		cfg := testConfig(t, tt.yaml)
		cfg.HTTPSecret = strings.Repeat("s", 32)
		var logs bytes.Buffer
		r, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Shutdown()
		logged := strings.Contains(logs.String(), "storage.min_free is not checked")
		if logged != tt.wantLog {
			t.Errorf("config %q: note logged = %v, want %v:\n%s", tt.yaml, logged, tt.wantLog, logs.String())
		}
		if tt.wantLog && !strings.Contains(logs.String(), "driver=inmemory") {
			t.Errorf("the note does not name the driver: %s", logs.String())
		}
	}
}
