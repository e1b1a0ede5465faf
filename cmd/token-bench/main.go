// Command token-bench measures docker token endpoint latency: it asks each
// given endpoint for a token with Basic credentials, interleaving the
// endpoints so that both see the same Keycloak load, and reports p50, p90
// and p99 per endpoint.
//
//	TOKEN_BENCH_PASSWORD=... token-bench -user U -service registry \
//	    -endpoint stack=http://127.0.0.1:5000/auth/realms/r/protocol/docker-v2/auth \
//	    -endpoint keycloak=http://127.0.0.1:8080/realms/r/protocol/docker-v2/auth
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/registry-stack/registry-stack/internal/dockertoken"
)

type endpoint struct {
	label, url string
	samples    []time.Duration
}

type endpoints []*endpoint

func (e *endpoints) String() string { return fmt.Sprint(len(*e)) }

func (e *endpoints) Set(v string) error {
	label, u, ok := strings.Cut(v, "=")
	if !ok || label == "" || u == "" {
		return errors.New("want LABEL=URL")
	}
	*e = append(*e, &endpoint{label: label, url: u})
	return nil
}

func main() {
	var eps endpoints
	flag.Var(&eps, "endpoint", "`LABEL=URL` of a token endpoint (repeatable)")
	user := flag.String("user", "", "username")
	service := flag.String("service", "registry", "service parameter")
	scope := flag.String("scope", "repository:bench/app:pull,push", "scope parameter")
	n := flag.Int("n", 200, "requests per endpoint")
	warmup := flag.Int("warmup", 20, "unmeasured requests per endpoint first")
	flag.Parse()
	// The password comes from the environment so it never shows in ps.
	password := os.Getenv("TOKEN_BENCH_PASSWORD")
	if len(eps) == 0 || *user == "" || password == "" {
		fmt.Fprintln(os.Stderr, "token-bench: need -endpoint, -user and TOKEN_BENCH_PASSWORD")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	ctx := context.Background()
	req := dockertoken.Request{Service: *service, Scope: *scope, User: *user, Password: password}
	for i := 0; i < *warmup+*n; i++ {
		for _, ep := range eps {
			d, err := fetch(ctx, client, ep.url, req)
			if err != nil {
				fmt.Fprintf(os.Stderr, "token-bench: %s: %v\n", ep.label, err)
				os.Exit(1)
			}
			if i >= *warmup {
				ep.samples = append(ep.samples, d)
			}
		}
	}
	for _, ep := range eps {
		slices.Sort(ep.samples)
		fmt.Printf("%-10s n=%d p50=%s p90=%s p99=%s\n", ep.label, len(ep.samples),
			pct(ep.samples, 50), pct(ep.samples, 90), pct(ep.samples, 99))
	}
}

// fetch times one token request.
func fetch(ctx context.Context, client *http.Client, endpoint string, r dockertoken.Request) (time.Duration, error) {
	t0 := time.Now()
	if _, err := dockertoken.Fetch(ctx, client, endpoint, r); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func pct(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)].Round(10 * time.Microsecond)
}
