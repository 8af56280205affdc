// Package ratelog bounds how often a kind of log line is written. A peer that fails TLS
// handshakes or sends garbage in a loop must not be able to fill the disk or drown the lines
// an operator needs: each kind gets a few lines per interval, and the next line written after
// a quiet spell says how many were suppressed.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Limiter writes at most Burst lines per Interval for each kind.
type Limiter struct {
	Logger   *slog.Logger
	Burst    int
	Interval time.Duration

	mu    sync.Mutex
	kinds map[string]*bucket
	now   func() time.Time
}

type bucket struct {
	start      time.Time
	written    int
	suppressed int
}

// New returns a limiter of burst lines per interval and kind.
func New(log *slog.Logger, burst int, interval time.Duration) *Limiter {
	return &Limiter{Logger: log, Burst: burst, Interval: interval, kinds: map[string]*bucket{}, now: time.Now}
}

// Log writes the line unless kind used up its lines for this interval; the first line of a new
// interval carries the count suppressed in the last one.
func (l *Limiter) Log(ctx context.Context, level slog.Level, kind, msg string, attrs ...slog.Attr) {
	l.mu.Lock()
	now := l.now()
	b := l.kinds[kind]
	if b == nil {
		if len(l.kinds) > 1024 {
			// Kinds are a fixed set in practice; never let them grow without bound.
			clear(l.kinds)
		}
		b = &bucket{start: now}
		l.kinds[kind] = b
	}
	if now.Sub(b.start) >= l.Interval {
		b.start, b.written = now, 0
	}
	if b.written >= l.Burst {
		b.suppressed++
		l.mu.Unlock()
		return
	}
	b.written++
	suppressed := b.suppressed
	b.suppressed = 0
	l.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, slog.Int(telemetry.KeySuppressed, suppressed))
	}
	l.Logger.LogAttrs(ctx, level, msg, attrs...)
}
