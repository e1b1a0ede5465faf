package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/registry-stack/registry-stack/internal/config"
)

func TestUploadPurgingConfig(t *testing.T) {
	ours := func(age, interval string) map[any]any {
		return map[any]any{"enabled": true, "age": age, "interval": interval, "dryrun": false}
	}
	tests := []struct {
		name    string
		yaml    string
		want    configuration.Parameters // storage.maintenance
		wantAge time.Duration            // UploadPurgeAge
	}{
		{
			name:    "defaults",
			want:    configuration.Parameters{"uploadpurging": ours("24h0m0s", "1h0m0s")},
			wantAge: 24 * time.Hour,
		},
		{
			name:    "our keys",
			yaml:    "storage:\n  upload_purge_age: 72h\n  upload_purge_interval: 30m\n",
			want:    configuration.Parameters{"uploadpurging": ours("72h0m0s", "30m0s")},
			wantAge: 72 * time.Hour,
		},
		{
			name:    "passed-through storage without maintenance gets ours",
			yaml:    "storage:\n  upload_purge_age: 2h\ndistribution:\n  storage:\n    inmemory: {}\n",
			want:    configuration.Parameters{"uploadpurging": ours("2h0m0s", "1h0m0s")},
			wantAge: 2 * time.Hour,
		},
		{
			name: "passed-through maintenance keeps its readonly and gets ours next to it",
			yaml: "distribution:\n  storage:\n    inmemory: {}\n    maintenance:\n      readonly:\n        enabled: true\n",
			want: configuration.Parameters{
				"readonly":      map[any]any{"enabled": true},
				"uploadpurging": ours("24h0m0s", "1h0m0s"),
			},
			wantAge: 24 * time.Hour,
		},
		{
			name:    "an empty passed-through maintenance section",
			yaml:    "distribution:\n  storage:\n    inmemory: {}\n    maintenance:\n",
			want:    configuration.Parameters{"uploadpurging": ours("24h0m0s", "1h0m0s")},
			wantAge: 24 * time.Hour,
		},
		{
			name: "passed-through uploadpurging wins",
			yaml: "storage:\n  upload_purge_age: 2h\ndistribution:\n  storage:\n    inmemory: {}\n    maintenance:\n      uploadpurging:\n        enabled: true\n        age: 168h\n        interval: 24h\n        dryrun: false\n",
			want: configuration.Parameters{"uploadpurging": map[any]any{
				"enabled": true, "age": "168h", "interval": "24h", "dryrun": false,
			}},
			wantAge: 168 * time.Hour,
		},
		{
			name: "passed-through purging turned off",
			yaml: "distribution:\n  storage:\n    inmemory: {}\n    maintenance:\n      uploadpurging:\n        enabled: false\n",
			want: configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
			// garbage-collect --uploads still has an age to go by.
			wantAge: 24 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, tt.yaml)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			d, err := DistributionConfig(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Storage["maintenance"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("storage.maintenance = %#v, want %#v", got, tt.want)
			}
			age, err := UploadPurgeAge(cfg)
			if err != nil || age != tt.wantAge {
				t.Errorf("UploadPurgeAge = %s, %v; want %s", age, err, tt.wantAge)
			}
			// distribution reads the section with type assertions and
			// panics on a wrong type: it must accept what we built.
			newTestRegistry(t, cfg)
		})
	}
}

func TestUploadPurgeAgeBadPassthrough(t *testing.T) {
	cfg := testConfig(t, "distribution:\n  storage:\n    inmemory: {}\n    maintenance:\n      uploadpurging:\n        age: soon\n")
	_, err := UploadPurgeAge(cfg)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "distribution.storage.maintenance.uploadpurging.age" {
		t.Fatalf("UploadPurgeAge = %v, want a config error naming the key", err)
	}
}

// startUpload begins an upload of repo through the API and sends data as
// its first chunk, then leaves it, as a client that dies mid-push does.
func startUpload(t *testing.T, r *Registry, repo string, data []byte) {
	t.Helper()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil))
	loc := w.Header().Get("Location")
	if w.Code != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %d %s", w.Code, w.Body)
	}
	req := httptest.NewRequest(http.MethodPatch, loc, strings.NewReader(string(data)))
	req.Header.Set("Content-Type", "application/octet-stream")
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusAccepted {
		t.Fatalf("PATCH: %d %s", w.Code, w.Body)
	}
}

// Abandoned uploads are counted with their bytes, and removed by age; a
// dry run removes nothing.
func TestUploadsUsageAndReclaim(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, "")
	r := newTestRegistry(t, cfg)
	if u, err := uploadUsage(ctx, r.driver); err != nil || u != (UploadUsage{}) {
		t.Fatalf("usage of an empty registry = %+v, %v", u, err)
	}
	chunk := []byte(strings.Repeat("x", 100_000))
	startUpload(t, r, "team/app", chunk)
	startUpload(t, r, "other", chunk[:1000])

	u, err := uploadUsage(ctx, r.driver)
	if err != nil {
		t.Fatal(err)
	}
	if u.Uploads != 2 || u.Bytes < 101_000 {
		t.Fatalf("usage = %+v, want 2 uploads holding at least 101000 bytes", u)
	}
	m := gathered(t, r)
	if got := m["registry_stack_uploads_bytes"]; got != float64(u.Bytes) {
		t.Errorf("registry_stack_uploads_bytes = %v, want %d", got, u.Bytes)
	}
	if n := m["registry_stack_uploads"]; n != 2 {
		t.Errorf("registry_stack_uploads = %v, want 2", n)
	}

	// Started just now: an age of an hour keeps both.
	removed, kept, err := reclaimUploads(ctx, r.driver, time.Now().Add(-time.Hour), false)
	if err != nil || len(removed) != 0 || len(kept) != 2 {
		t.Fatalf("reclaim older than 1h: removed %v, kept %v, %v", removed, kept, err)
	}
	for _, k := range kept {
		if time.Since(k.Started) > time.Minute || k.Started.After(time.Now()) {
			t.Errorf("upload %s started %s, want about now", k.ID, k.Started)
		}
	}
	removed, _, err = reclaimUploads(ctx, r.driver, time.Now().Add(time.Second), true)
	if err != nil || len(removed) != 2 {
		t.Fatalf("dry run: removed %v, %v", removed, err)
	}
	if after, _ := uploadUsage(ctx, r.driver); after != u {
		t.Fatalf("a dry run changed the usage: %+v, was %+v", after, u)
	}
	removed, kept, err = reclaimUploads(ctx, r.driver, time.Now().Add(time.Second), false)
	if err != nil || len(removed) != 2 || len(kept) != 0 {
		t.Fatalf("reclaim all: removed %v, kept %v, %v", removed, kept, err)
	}
	var bytes int64
	for _, rm := range removed {
		bytes += rm.Bytes
	}
	if bytes != u.Bytes {
		t.Errorf("removed %d bytes, usage said %d", bytes, u.Bytes)
	}
	for _, repo := range []string{"team/app", "other"} {
		dir := filepath.Join(cfg.DataDir, "registry", "docker", "registry", "v2", "repositories", repo, "_uploads")
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("%s: %d entries, %v; want empty", dir, len(entries), err)
		}
	}
	if after, err := uploadUsage(ctx, r.driver); err != nil || after != (UploadUsage{}) {
		t.Errorf("usage after reclaiming = %+v, %v", after, err)
	}
}

// GarbageCollect with Uploads reclaims offline, by age.
func TestGarbageCollectUploads(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.HTTPSecret = strings.Repeat("s", 32)
	r, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	startUpload(t, r, "app", []byte(strings.Repeat("y", 5000)))
	if err := r.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		opts        GCOptions
		removed     int
		kept        int
		minRemoved  int64
		stillThere  bool
		description string
	}{
		{GCOptions{Uploads: true, UploadsOlderThan: time.Hour}, 0, 1, 0, true, "younger than the age"},
		{GCOptions{Uploads: true, DryRun: true}, 1, 0, 5000, true, "dry run"},
		{GCOptions{Uploads: false}, 0, 0, 0, true, "without --uploads"},
		{GCOptions{Uploads: true}, 1, 0, 5000, false, "all"},
	} {
		res, err := GarbageCollect(context.Background(), cfg, tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.description, err)
		}
		var bytes int64
		for _, u := range res.UploadsRemoved {
			bytes += u.Bytes
		}
		if len(res.UploadsRemoved) != tt.removed || len(res.UploadsKept) != tt.kept || bytes < tt.minRemoved {
			t.Errorf("%s: removed %d (%d bytes), kept %d; want %d (at least %d bytes), %d",
				tt.description, len(res.UploadsRemoved), bytes, len(res.UploadsKept), tt.removed, tt.minRemoved, tt.kept)
		}
		u, err := uploadUsage(context.Background(), r.driver)
		if err != nil {
			t.Fatal(err)
		}
		if there := u.Uploads == 1; there != tt.stillThere {
			t.Errorf("%s: upload still there = %v, want %v", tt.description, there, tt.stillThere)
		}
	}
}

// gathered collects r's storage metrics as name → value.
func gathered(t *testing.T, r *Registry) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(r.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	return out
}

// The free-space gauge follows the filesystem (filesystem storage only).
func TestFreeSpaceMetric(t *testing.T) {
	cfg := testConfig(t, "")
	r := newTestRegistry(t, cfg)
	free, err := freeBytes(filepath.Join(cfg.DataDir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := gathered(t, r)["registry_stack_storage_free_bytes"]
	if !ok {
		t.Fatal("no registry_stack_storage_free_bytes")
	}
	// Other tests write to the same filesystem meanwhile.
	if diff := got - float64(free); diff > 64<<20 || diff < -64<<20 {
		t.Errorf("registry_stack_storage_free_bytes = %.0f, statfs says %d", got, free)
	}
	if problems, err := testutil.CollectAndLint(r.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	mem := gathered(t, newTestRegistry(t, testConfig(t, "distribution:\n  storage:\n    inmemory: {}\n")))
	if want := "map[registry_stack_uploads:0 registry_stack_uploads_bytes:0]"; fmt.Sprint(mem) != want {
		t.Errorf("inmemory storage exports %v, want %s", mem, want)
	}
}
