// Package logging builds the one slog logger the binary uses and routes the
// embedded distribution registry's logrus output through it, so every line
// has the same format.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sirupsen/logrus"
)

// New returns a logger writing format ("text" or "json") at level to w.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
}

// BridgeLogrus sends everything logged through lr to l. distribution logs
// through logrus' standard logger, so callers pass logrus.StandardLogger();
// the logger is reconfigured once at start-up.
func BridgeLogrus(lr *logrus.Logger, l *slog.Logger) {
	lr.SetOutput(io.Discard)
	lr.SetLevel(logrusLevel(l))
	lr.ReplaceHooks(logrus.LevelHooks{})
	lr.AddHook(&hook{log: l.With("component", "distribution")})
}

func logrusLevel(l *slog.Logger) logrus.Level {
	ctx := context.Background()
	switch {
	case l.Enabled(ctx, slog.LevelDebug):
		return logrus.DebugLevel
	case l.Enabled(ctx, slog.LevelInfo):
		return logrus.InfoLevel
	case l.Enabled(ctx, slog.LevelWarn):
		return logrus.WarnLevel
	default:
		return logrus.ErrorLevel
	}
}

type hook struct{ log *slog.Logger }

func (h *hook) Levels() []logrus.Level { return logrus.AllLevels }

// dropFields are request fields distribution attaches that only repeat what
// the stack's own access log says.
var dropFields = map[string]bool{"go.version": true}

func (h *hook) Fire(e *logrus.Entry) error {
	lvl := slog.LevelInfo
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		lvl = slog.LevelError
	case logrus.WarnLevel:
		lvl = slog.LevelWarn
	case logrus.DebugLevel, logrus.TraceLevel:
		lvl = slog.LevelDebug
	}
	// distribution logs every 4xx answer (a blob a client probes for, an
	// expired token) at error level; for an operator those are normal
	// client traffic, so only 5xx stay errors.
	if lvl == slog.LevelError {
		if status, ok := e.Data["http.response.status"].(int); ok && status < 500 {
			lvl = slog.LevelInfo
		}
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if !h.log.Enabled(ctx, lvl) {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(e.Data))
	for k, v := range e.Data {
		if dropFields[k] || isSensitiveField(k) {
			continue
		}
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	h.log.LogAttrs(ctx, lvl, e.Message, attrs...)
	return nil
}

// isSensitiveField guards against a future distribution version attaching
// request headers to its log lines.
func isSensitiveField(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "authorization") || strings.Contains(k, "password") || strings.Contains(k, "token")
}
