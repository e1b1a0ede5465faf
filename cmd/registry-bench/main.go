// Command registry-bench measures blob push and pull throughput of a
// registry: it streams a deterministic blob of the given size (never held
// in memory) and reports MB/s for each, best of N runs.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	base := flag.String("url", "", "registry base `URL`, e.g. http://127.0.0.1:5000")
	size := flag.Int64("size", 256<<20, "blob size in `bytes`")
	runs := flag.Int("runs", 3, "number of runs; the best is reported")
	label := flag.String("label", "registry", "label for the result line")
	flag.Parse()
	if *base == "" {
		fmt.Fprintln(os.Stderr, "registry-bench: --url is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := run(ctx, *base, *size, *runs, *label); err != nil {
		fmt.Fprintln(os.Stderr, "registry-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, base string, size int64, runs int, label string) error {
	var bestPush, bestPull float64
	for i := 0; i < runs; i++ {
		seed := uint64(i + 2)
		h := sha256.New()
		if _, err := io.Copy(h, newBlob(size, seed)); err != nil {
			return err
		}
		dgst := "sha256:" + hex.EncodeToString(h.Sum(nil))
		repo := fmt.Sprintf("bench/run%d-%d", i, time.Now().UnixNano())
		t0 := time.Now()
		if err := push(ctx, base, repo, dgst, size, seed); err != nil {
			return fmt.Errorf("push: %w", err)
		}
		pushS := time.Since(t0).Seconds()
		t0 = time.Now()
		n, err := pull(ctx, base, repo, dgst)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
		if n != size {
			return fmt.Errorf("pulled %d bytes, want %d", n, size)
		}
		pullS := time.Since(t0).Seconds()
		mb := float64(size) / (1 << 20)
		bestPush = max(bestPush, mb/pushS)
		bestPull = max(bestPull, mb/pullS)
	}
	fmt.Printf("%s: %d MiB blob, best of %d: push %.0f MB/s, pull %.0f MB/s\n", label, size>>20, runs, bestPush, bestPull)
	return nil
}

func push(ctx context.Context, base, repo, dgst string, size int64, seed uint64) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, loc+sep+"digest="+dgst, newBlob(size, seed))
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("upload: %s", resp.Status)
	}
	return nil
}

func pull(ctx context.Context, base, repo, dgst string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/"+repo+"/blobs/"+dgst, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("get blob: %s", resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}

// blob yields size pseudo-random bytes from a seed, cheaply, so the
// generator is not what is measured.
type blob struct {
	left  int64
	state uint64
}

func newBlob(size int64, seed uint64) *blob { return &blob{left: size, state: seed} }

func (b *blob) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > b.left {
		n = int(b.left)
	}
	n &^= 7
	if n == 0 {
		n = int(b.left)
		for i := 0; i < n; i++ {
			p[i] = byte(b.state)
		}
		b.left -= int64(n)
		return n, nil
	}
	for i := 0; i < n; i += 8 {
		b.state ^= b.state << 13
		b.state ^= b.state >> 7
		b.state ^= b.state << 17
		v := b.state
		p[i], p[i+1], p[i+2], p[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		p[i+4], p[i+5], p[i+6], p[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
	}
	b.left -= int64(n)
	return n, nil
}
