package registry

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"

	"github.com/registry-stack/registry-stack/internal/config"
)

// Upload is one upload session's directory in storage: in progress, or
// abandoned by a client that never finished it.
type Upload struct {
	// Repository and ID name the session (the UUID of its Location URL).
	Repository, ID string
	// Started is when the client began it, as distribution recorded it;
	// the newest file's time when that record is missing or unread.
	Started time.Time
	// Bytes is what it holds: received data and saved hash states.
	Bytes int64

	dir string
}

// listUploads walks every repository's _uploads directory. withStart also
// reads each session's recorded start time, one read per session.
func listUploads(ctx context.Context, d storagedriver.StorageDriver, withStart bool) ([]Upload, error) {
	type found struct {
		Upload
		recorded time.Time
	}
	byDir := map[string]*found{}
	var order []string
	err := d.Walk(ctx, repositoriesRoot, func(fi storagedriver.FileInfo) error {
		rel := strings.TrimPrefix(fi.Path(), repositoriesRoot+"/")
		// Repository name components never start with "_", so the first
		// "/_uploads/" is the one.
		repo, rest, ok := strings.Cut(rel, "/_uploads/")
		if !ok {
			if base := path.Base(rel); fi.IsDir() && strings.HasPrefix(base, "_") && base != "_uploads" {
				return storagedriver.ErrSkipDir // _manifests, _layers
			}
			return nil
		}
		id, inner, _ := strings.Cut(rest, "/")
		dir := repositoriesRoot + "/" + repo + "/_uploads/" + id
		u := byDir[dir]
		if u == nil {
			u = &found{Upload: Upload{Repository: repo, ID: id, dir: dir}}
			byDir[dir] = u
			order = append(order, dir)
		}
		if fi.IsDir() {
			return nil
		}
		u.Bytes += fi.Size()
		if fi.ModTime().After(u.Started) {
			u.Started = fi.ModTime()
		}
		if withStart && inner == "startedat" {
			// Unreadable: the file times stand in.
			if b, err := d.GetContent(ctx, fi.Path()); err == nil {
				if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b))); err == nil {
					u.recorded = t
				}
			}
		}
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	out := make([]Upload, 0, len(order))
	for _, dir := range order {
		u := byDir[dir]
		if !u.recorded.IsZero() {
			u.Started = u.recorded
		}
		out = append(out, u.Upload)
	}
	return out, nil
}

// UploadUsage is what upload sessions hold in storage.
type UploadUsage struct {
	Uploads int
	Bytes   int64
}

func uploadUsage(ctx context.Context, d storagedriver.StorageDriver) (UploadUsage, error) {
	ups, err := listUploads(ctx, d, false)
	if err != nil {
		return UploadUsage{}, err
	}
	var u UploadUsage
	for _, up := range ups {
		u.Uploads++
		u.Bytes += up.Bytes
	}
	return u, nil
}

// reclaimUploads removes the upload sessions started before cutoff and
// returns them with those it kept; with dryRun it removes nothing.
func reclaimUploads(ctx context.Context, d storagedriver.StorageDriver, cutoff time.Time, dryRun bool) (removed, kept []Upload, err error) {
	ups, err := listUploads(ctx, d, true)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range ups {
		if !u.Started.Before(cutoff) {
			kept = append(kept, u)
			continue
		}
		if !dryRun {
			var notFound storagedriver.PathNotFoundError
			if err := d.Delete(ctx, u.dir); err != nil && !errors.As(err, &notFound) {
				return removed, kept, fmt.Errorf("remove upload %s of %s: %w", u.ID, u.Repository, err)
			}
		}
		removed = append(removed, u)
	}
	return removed, kept, nil
}

// setUploadPurging puts registry-stack's upload purge settings into
// distribution's storage.maintenance.uploadpurging, unless the
// passed-through storage section has its own.
func setUploadPurging(s configuration.Storage, st config.Storage) {
	m := s["maintenance"]
	if _, ok := m["uploadpurging"]; ok {
		return
	}
	if m == nil {
		m = configuration.Parameters{}
		s["maintenance"] = m
	}
	// distribution reads these with type assertions on yaml.v2's types.
	m["uploadpurging"] = map[any]any{
		"enabled":  true,
		"age":      st.UploadPurgeAge.D().String(),
		"interval": st.UploadPurgeInterval.D().String(),
		"dryrun":   false,
	}
}

// UploadPurgeAge is the purge age in force: a passed-through
// storage.maintenance.uploadpurging.age, else storage.upload_purge_age.
// garbage-collect --uploads removes what is older by default.
func UploadPurgeAge(cfg *config.Config) (time.Duration, error) {
	dcfg, err := DistributionConfig(cfg, Options{})
	if err != nil {
		return 0, err
	}
	up, _ := dcfg.Storage["maintenance"]["uploadpurging"].(map[any]any)
	age, ok := up["age"].(string)
	if !ok {
		return cfg.Storage.UploadPurgeAge.D(), nil
	}
	d, err := time.ParseDuration(age)
	if err != nil {
		return 0, &config.Error{Key: "distribution.storage.maintenance.uploadpurging.age", Msg: fmt.Sprintf("%q is not a duration", age)}
	}
	return d, nil
}
