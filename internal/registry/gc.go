package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"

	"github.com/registry-stack/registry-stack/internal/config"
	"github.com/registry-stack/registry-stack/internal/digestalias"
)

// blobsRoot is where distribution keeps blob data, in every storage driver.
const blobsRoot = "/docker/registry/v2/blobs"

// GCOptions selects what GarbageCollect removes.
type GCOptions struct {
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// RemoveUntagged also removes manifests no tag points at (and then
	// the blobs only they used).
	RemoveUntagged bool
	// Verbose lets distribution print each marked and removed item.
	Verbose bool
	// Uploads also removes upload sessions started more than
	// UploadsOlderThan ago (0: all of them). With no server running none
	// is in progress, but a client may still resume one after a restart.
	Uploads          bool
	UploadsOlderThan time.Duration
}

// GCResult is what a collection found.
type GCResult struct {
	BlobsBefore, BlobsAfter int
	BytesBefore, BytesAfter int64
	// UploadsRemoved (or, in a dry run, those that would be) and
	// UploadsKept, when GCOptions.Uploads is set.
	UploadsRemoved, UploadsKept []Upload
	// AliasesRemoved counts sha512 digests removed because their content
	// is gone (in a dry run: those whose content is gone already).
	AliasesRemoved int
	// ManifestsRemoved are the manifests found to be garbage (untagged
	// ones with RemoveUntagged, referrers whose subject is gone).
	ManifestsRemoved []RemovedManifest
	// ReferrerEntriesRemoved and ReferrerEntriesAdded count the changes
	// to the referrers index.
	ReferrerEntriesRemoved, ReferrerEntriesAdded int
}

// ErrInUse means a registry-stack server holds the data dir.
var ErrInUse = errors.New("a registry-stack server is running on this data dir")

// GarbageCollect removes garbage manifests (untagged ones with
// opts.RemoveUntagged, referrers whose subject is gone: see
// collectManifests), then blobs no manifest references, with distribution's
// mark-and-sweep, from the storage cfg describes, and with opts.Uploads
// first the upload sessions older than opts.UploadsOlderThan. It must not
// run while a server writes to the same storage (an upload in progress is
// unreferenced until its manifest arrives): it takes the data dir lock that
// serve holds shared, and fails with ErrInUse while any server runs.
func GarbageCollect(ctx context.Context, cfg *config.Config, opts GCOptions) (GCResult, error) {
	unlock, err := LockDataDir(cfg.DataDir, true)
	if err != nil {
		return GCResult{}, err
	}
	defer unlock()
	dcfg, err := DistributionConfig(cfg, Options{})
	if err != nil {
		return GCResult{}, err
	}
	driver, err := factory.Create(ctx, dcfg.Storage.Type(), dcfg.Storage.Parameters())
	if err != nil {
		return GCResult{}, fmt.Errorf("storage %s: %w", dcfg.Storage.Type(), err)
	}
	var res GCResult
	if opts.Uploads {
		res.UploadsRemoved, res.UploadsKept, err = reclaimUploads(ctx, driver, time.Now().Add(-opts.UploadsOlderThan), opts.DryRun)
		if err != nil {
			return res, err
		}
	}
	if res.BlobsBefore, res.BytesBefore, err = blobUsage(ctx, driver); err != nil {
		return res, err
	}
	if res.BlobsBefore == 0 {
		return res, nil // an empty registry: mark-and-sweep would fail on the missing tree
	}
	ns, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return res, fmt.Errorf("open registry storage: %w", err)
	}
	// sha512 references protect the sha256 content behind them, and each
	// digest is seen once (digestalias.ForGC). Manifests are collected here
	// (see collectManifests), so distribution's mark-and-sweep only frees
	// blobs.
	aliases := digestalias.NewStore(driver)
	gcns := digestalias.ForGC(ns, aliases)
	if err := collectManifests(ctx, driver, gcns, aliases, opts, &res); err != nil {
		return res, fmt.Errorf("garbage collect: %w", err)
	}
	if err := storage.MarkAndSweep(ctx, driver, gcns, storage.GCOpts{DryRun: opts.DryRun, Quiet: !opts.Verbose}); err != nil {
		return res, fmt.Errorf("garbage collect: %w", err)
	}
	// sha512 digests whose content is gone (swept above, or deleted by its
	// sha256 digest) are links to nothing now.
	dangling, err := aliases.Prune(ctx, opts.DryRun)
	res.AliasesRemoved = len(dangling)
	if err != nil {
		return res, err
	}
	res.BlobsAfter, res.BytesAfter, err = blobUsage(ctx, driver)
	return res, err
}

// blobUsage counts blob data files and their bytes.
func blobUsage(ctx context.Context, d storagedriver.StorageDriver) (int, int64, error) {
	var n int
	var size int64
	err := d.Walk(ctx, blobsRoot, func(fi storagedriver.FileInfo) error {
		if !fi.IsDir() && filepath.Base(fi.Path()) == "data" {
			n++
			size += fi.Size()
		}
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return 0, 0, fmt.Errorf("measure blob storage: %w", err)
	}
	return n, size, nil
}

// dataDirError names what to do about a data dir the process may not
// write: the usual cause is a host directory mounted into the container
// image, which keeps its owner while the image runs as uid 65532.
func dataDirError(dataDir, op string, err error, uid, gid int) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("data dir %s must be writable by uid %d gid %d, the user registry-stack runs as (chown %d:%d %s): %w",
			dataDir, uid, gid, uid, gid, dataDir, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// LockDataDir takes the data dir's lock: shared for a server (several may
// run), exclusive for garbage collection. It returns ErrInUse when the lock
// is held the other way, and a release func.
func LockDataDir(dataDir string, exclusive bool) (func(), error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, dataDirError(dataDir, "data dir "+dataDir, err, os.Geteuid(), os.Getegid())
	}
	path := filepath.Join(dataDir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, dataDirError(dataDir, "lock "+path, err, os.Geteuid(), os.Getegid())
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if exclusive {
				return nil, fmt.Errorf("%w (%s): stop it first", ErrInUse, dataDir)
			}
			return nil, fmt.Errorf("data dir %s: garbage collection is running; start the server when it ends", dataDir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}
