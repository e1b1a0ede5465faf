package importer

import (
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchLayer is 64 MiB of layer-like content: three quarters text-like
// (compresses about as binaries and scripts do), a quarter random (as
// already-compressed files do).
func benchLayer(b *testing.B) []byte {
	b.Helper()
	const size = 64 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the quick brown fox jumps over a lazy dog lib usr bin share locale ELF x86_64 GLIBC_2.34 main init config")
	out := make([]byte, 0, size)
	for len(out) < size {
		if len(out)%(4<<20) < 1<<20 {
			chunk := make([]byte, 1<<16)
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
			out = append(out, chunk...)
			continue
		}
		out = append(out, words[rng.IntN(len(words))]...)
		out = append(out, ' ')
	}
	return out[:size]
}

// BenchmarkLayerGzip compresses a 64 MiB uncompressed layer as measure
// does (gzip and both digests), at each level: layerGzipLevel is chosen
// from this.
func BenchmarkLayerGzip(b *testing.B) {
	layer := benchLayer(b)
	for _, level := range []int{gzip.DefaultCompression, gzip.BestSpeed} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			b.SetBytes(int64(len(layer)))
			var n byteCount
			for b.Loop() {
				n = byteCount{}
				pushed, diff := sha256.New(), sha256.New()
				zw, _ := gzip.NewWriterLevel(io.MultiWriter(pushed, &n), level)
				if _, err := io.Copy(io.MultiWriter(zw, diff), strings.NewReader(string(layer))); err != nil {
					b.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n.n)/float64(len(layer))*100, "%size")
		})
	}
}

// BenchmarkMeasure is measure over a 64 MiB uncompressed layer file.
func BenchmarkMeasure(b *testing.B) {
	layer := benchLayer(b)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "layer.tar"), layer, 0o644); err != nil {
		b.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	src := dirSource{root: root}
	defer src.close()
	diffID := hashOf(layer)
	b.SetBytes(int64(len(layer)))
	for b.Loop() {
		l := &dockerLayer{src: src, name: "layer.tar", diffID: diffID}
		if err := l.measure(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
