// Command load-bench puts a registry under steady read load: it pushes one
// small image (go-containerregistry, with the registry's own token flow
// when credentials are given), then keeps a fixed number of connections
// busy for a fixed time, each alternating a manifest GET and a blob HEAD,
// and reports requests, errors, throughput and latency percentiles.
//
//	load-bench -url http://127.0.0.1:5000 -repo team/load -conns 64 -duration 20s
//	LOAD_BENCH_PASSWORD=... load-bench -url ... -user alice
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func main() {
	base := flag.String("url", "", "registry base `URL`, e.g. http://127.0.0.1:5000")
	repo := flag.String("repo", "bench/load", "`repository` to push the image to and read from")
	user := flag.String("user", "", "user name (the password comes from LOAD_BENCH_PASSWORD); none for anonymous")
	conns := flag.Int("conns", 64, "concurrent connections")
	duration := flag.Duration("duration", 20*time.Second, "how long to keep the load")
	label := flag.String("label", "registry", "label for the result line")
	flag.Parse()
	if *base == "" || *conns < 1 || *duration <= 0 {
		fmt.Fprintln(os.Stderr, "load-bench: --url, a positive --conns and --duration are required")
		os.Exit(2)
	}
	auth := authn.Anonymous
	if *user != "" {
		auth = &authn.Basic{Username: *user, Password: os.Getenv("LOAD_BENCH_PASSWORD")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration+5*time.Minute)
	defer cancel()
	res, err := run(ctx, *base, *repo, auth, *conns, *duration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load-bench:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d conns for %s: %d requests (%.0f/s), %d errors, p50 %s, p99 %s, max %s\n",
		*label, *conns, *duration, res.requests, float64(res.requests)/duration.Seconds(), res.errors,
		ms(res.p50), ms(res.p99), ms(res.max))
	if res.firstError != "" {
		fmt.Printf("%s: first error: %s\n", *label, res.firstError)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

type result struct {
	requests, errors int
	p50, p99, max    time.Duration
	firstError       string
}

func run(ctx context.Context, base, repoName string, auth authn.Authenticator, conns int, duration time.Duration) (result, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	var opts []name.Option
	if strings.HasPrefix(base, "http://") {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(host+"/"+repoName, opts...)
	if err != nil {
		return result{}, err
	}
	img, err := random.Image(4096, 1)
	if err != nil {
		return result{}, err
	}
	tag := repo.Tag("load")
	if err := remote.Write(tag, img, remote.WithAuth(auth), remote.WithContext(ctx)); err != nil {
		return result{}, fmt.Errorf("push %s: %w", tag, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return result{}, err
	}
	layer, err := layers[0].Digest()
	if err != nil {
		return result{}, err
	}

	// One pool of conns connections, behind the registry's token flow (a
	// token is fetched once and reused, as clients do).
	pool := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, pool, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return result{}, fmt.Errorf("token for %s: %w", repo, err)
	}
	client := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	manifestURL := fmt.Sprintf("%s/v2/%s/manifests/load", base, repoName)
	blobURL := fmt.Sprintf("%s/v2/%s/blobs/%s", base, repoName, layer)

	stop := time.Now().Add(duration)
	var (
		mu         sync.Mutex
		samples    []time.Duration
		failures   int
		firstError string
		wg         sync.WaitGroup
	)
	for i := range conns {
		wg.Go(func() {
			var mine []time.Duration
			var bad int
			var firstBad string
			for n := i; time.Now().Before(stop); n++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodHead, blobURL, nil)
				if n%2 == 0 {
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, manifestURL, nil)
					req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
				}
				t0 := time.Now()
				err := do(client, req)
				mine = append(mine, time.Since(t0))
				if err != nil {
					bad++
					if firstBad == "" {
						firstBad = err.Error()
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			samples = append(samples, mine...)
			failures += bad
			if firstError == "" {
				firstError = firstBad
			}
		})
	}
	wg.Wait()
	if len(samples) == 0 {
		return result{}, errors.New("no request completed")
	}
	slices.Sort(samples)
	at := func(q float64) time.Duration { return samples[min(len(samples)-1, int(q*float64(len(samples))))] }
	return result{
		requests: len(samples), errors: failures,
		p50: at(0.50), p99: at(0.99), max: samples[len(samples)-1],
		firstError: firstError,
	}, nil
}

// do sends req and reads its answer to the end; anything but 200 is an
// error.
func do(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	return nil
}
