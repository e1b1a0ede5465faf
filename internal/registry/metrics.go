package registry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	// usageEvery is how long a walk of the upload directories is reused:
	// scrapes come every few seconds, a walk visits every repository.
	usageEvery = 30 * time.Second
	// usageTimeout bounds a walk started by a scrape; a slow store gives
	// no upload figures rather than a hung scrape.
	usageTimeout = 10 * time.Second
)

// storageCollector exports the storage figures an operator alerts on.
type storageCollector struct {
	health  *storageHealth
	uploads *memo[UploadUsage]

	free, uploadBytes, uploadCount *prometheus.Desc
}

// Collector exports registry_stack_storage_free_bytes (filesystem storage
// only), registry_stack_uploads_bytes and registry_stack_uploads. Register
// it on the registry /metrics serves.
func (r *Registry) Collector() prometheus.Collector {
	return &storageCollector{
		health:  r.health,
		uploads: r.usage,
		free: prometheus.NewDesc("registry_stack_storage_free_bytes",
			"Free space on the filesystem holding the registry storage (filesystem driver only).", nil, nil),
		uploadBytes: prometheus.NewDesc("registry_stack_uploads_bytes",
			"Bytes held by upload sessions, in progress or abandoned (measured at most every 30s).", nil, nil),
		uploadCount: prometheus.NewDesc("registry_stack_uploads",
			"Upload sessions in storage, in progress or abandoned (measured at most every 30s).", nil, nil),
	}
}

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.free
	ch <- c.uploadBytes
	ch <- c.uploadCount
}

// Collect leaves out a figure it cannot measure: one failing figure must
// not fail the whole scrape.
func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	if c.health.fsRoot != "" {
		if free, err := freeBytes(c.health.fsRoot); err == nil {
			ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(free))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), usageTimeout)
	defer cancel()
	if u, err := c.uploads.get(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.uploadBytes, prometheus.GaugeValue, float64(u.Bytes))
		ch <- prometheus.MustNewConstMetric(c.uploadCount, prometheus.GaugeValue, float64(u.Uploads))
	}
}
