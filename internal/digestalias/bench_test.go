package digestalias_test

import (
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
)

// BenchmarkUpload: a 16 MiB blob upload finished by sha256 against one
// finished by sha512 (which distribution reads back to hash again), and
// GETs by each digest.
func BenchmarkUpload(b *testing.B) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		b.Run("push/"+string(alg), func(b *testing.B) {
			r, _ := newRegistry(b)
			blob := make([]byte, 16<<20)
			b.SetBytes(int64(len(blob)))
			for b.Loop() {
				_, _ = rand.Read(blob[:64])
				if w := pushBlob(b, r, "bench/app", blob, alg.FromBytes(blob)); w.Code != http.StatusCreated {
					b.Fatalf("push: %d %s", w.Code, w.Body)
				}
			}
		})
	}
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		b.Run("get/"+string(alg), func(b *testing.B) {
			r, _ := newRegistry(b)
			blob := make([]byte, 1<<20)
			_, _ = rand.Read(blob)
			d := alg.FromBytes(blob)
			if w := pushBlob(b, r, "bench/app", blob, d); w.Code != http.StatusCreated {
				b.Fatalf("push: %d %s", w.Code, w.Body)
			}
			b.SetBytes(int64(len(blob)))
			for b.Loop() {
				if w := do(b, r, "GET", "/v2/bench/app/blobs/"+d.String(), nil); w.Code != http.StatusOK {
					b.Fatalf("get: %d", w.Code)
				}
			}
		})
	}
}
