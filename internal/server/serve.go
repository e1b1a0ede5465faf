package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// CertFile and KeyFile enable TLS when both are set.
	CertFile, KeyFile string
	// DrainDelay is how long, once shutdown starts, /readyz answers 503
	// while new connections are still accepted and served, so load
	// balancers take the instance out before it stops listening.
	DrainDelay time.Duration
	// Grace is how long in-flight requests may run after the listener
	// stops accepting.
	Grace time.Duration
	// BodyIdleTimeout cuts request bodies that send nothing for this long
	// (see BodyIdle); 0 disables it.
	BodyIdleTimeout time.Duration
	Logger          *slog.Logger
}

// Serve serves h on ln until ctx is cancelled, then shuts down in the order
// orchestrators expect: drain (readiness 503, still serving) for
// DrainDelay, stop accepting, let in-flight requests finish for up to
// Grace, close what remains. It returns nil after a clean or graceful stop.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o ServeOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	drain := make(chan struct{})
	ln = &closeOnce{Listener: ln}
	srv := &http.Server{
		Handler: BodyIdle(o.BodyIdleTimeout, o.Logger, h),
		// No overall read/write timeouts: blob uploads and downloads may
		// legitimately take a long time. Slow header senders are cut off,
		// and so are bodies that stall (BodyIdle).
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.WithoutCancel(ctx), drainKey{}, (<-chan struct{})(drain))
		},
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if o.CertFile != "" {
			err = srv.ServeTLS(ln, o.CertFile, o.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return serveErr(ln, err)
	case <-ctx.Done():
	}

	close(drain)
	if o.DrainDelay <= 0 {
		o.Logger.Info("shutting down: no drain delay", "grace", o.Grace.String())
	} else {
		o.Logger.Info("shutting down: draining, /readyz answers 503, new connections still served",
			"drain_delay", o.DrainDelay.String(), "grace", o.Grace.String())
		// Answers now carry "Connection: close", so keep-alive clients
		// reconnect through the load balancer, which sends them elsewhere.
		srv.SetKeepAlivesEnabled(false)
		t := time.NewTimer(o.DrainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return serveErr(ln, err)
		}
	}

	// Closed here rather than inside Shutdown, so the log line below is
	// only written once a new connection is refused.
	_ = ln.Close()
	o.Logger.Info("stopped accepting new connections, in-flight requests may finish", "grace", o.Grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), o.Grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		o.Logger.Warn("grace period over, closing remaining connections", "error", err)
		_ = srv.Close()
	} else {
		o.Logger.Info("all requests finished")
	}
	<-errc // ErrServerClosed, or the closed listener's error: both expected here
	return nil
}

// closeOnce lets Serve close the listener before http.Server.Shutdown
// closes it again.
type closeOnce struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *closeOnce) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

func serveErr(ln net.Listener, err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s: %w", ln.Addr(), err)
}

type drainKey struct{}

// draining reports whether the server that received the request is
// shutting down (Serve puts that in every request's context).
func draining(ctx context.Context) bool {
	ch, _ := ctx.Value(drainKey{}).(<-chan struct{})
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
