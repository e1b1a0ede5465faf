package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// CertFile and KeyFile enable TLS when both are set.
	CertFile, KeyFile string
	// Grace is how long in-flight requests may run after shutdown starts.
	Grace  time.Duration
	Logger *slog.Logger
}

// Serve serves h on ln until ctx is cancelled, then stops accepting and lets
// in-flight requests finish for up to Grace before closing what remains.
// It returns nil after a clean or graceful stop.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o ServeOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler: h,
		// No overall read/write timeouts: blob uploads and downloads may
		// legitimately take a long time. Slow header senders are cut off.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
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
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	o.Logger.Info("shutting down", "grace", o.Grace)
	sctx, cancel := context.WithTimeout(context.Background(), o.Grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		o.Logger.Warn("grace period over, closing remaining connections", "error", err)
		_ = srv.Close()
	}
	<-errc
	return nil
}
