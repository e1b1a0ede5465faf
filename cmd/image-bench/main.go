// Command image-bench pushes a large image of random layers to a registry
// for throughput figures (scripts/bench.sh airgap). Layers are streamed
// from a seeded generator through gzip at level 0, never held in memory,
// so the pushed bytes are about the requested size.
package main

import (
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	ref := flag.String("ref", "", "image `reference` to push, e.g. 127.0.0.1:5000/bench/airgap:1.0 (plain HTTP)")
	layers := flag.Int("layers", 10, "number of layers")
	total := flag.Int64("size", 1<<30, "total size of the layers in `bytes`")
	seed := flag.Uint64("seed", 1, "seed of the random content")
	flag.Parse()
	if *ref == "" || *layers < 1 || *total < int64(*layers) {
		fmt.Fprintln(os.Stderr, "image-bench: --ref is required; --layers at least 1, --size at least --layers")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := push(ctx, *ref, *layers, *total, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "image-bench:", err)
		os.Exit(1)
	}
}

func push(ctx context.Context, s string, layers int, total int64, seed uint64) error {
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	// The config first: stream layers know their diff IDs only once pushed.
	if img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"}); err != nil {
		return err
	}
	var adds []mutate.Addendum
	for i := range layers {
		src := rand.NewChaCha8(seedBytes(seed, uint64(i)))
		rc := io.NopCloser(io.LimitReader(src, total/int64(layers)))
		l := stream.NewLayer(rc, stream.WithCompressionLevel(gzip.NoCompression), stream.WithMediaType(types.OCILayer))
		adds = append(adds, mutate.Addendum{Layer: l})
	}
	if img, err = mutate.Append(img, adds...); err != nil {
		return err
	}
	start := time.Now()
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return err
	}
	d, _ := img.Digest()
	fmt.Printf("pushed %s@%s: %d layers, %d bytes in %.1f s\n", ref, d, layers, total, time.Since(start).Seconds())
	return nil
}

func seedBytes(seed, layer uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
		b[8+i] = byte(layer >> (8 * i))
	}
	return b
}
