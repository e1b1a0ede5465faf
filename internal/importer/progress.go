package importer

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress reports bytes done against the bundle's size: on a terminal a
// live line (bytes, rate, ETA) rewritten in place, otherwise a plain line
// every logEvery. Log lines go through it so they never interleave with
// the live line.
type progress struct {
	log, term io.Writer // term: nil when not a terminal
	total     int64
	done      atomic.Int64
	began     time.Time

	mu       sync.Mutex
	live     bool // a live line is on screen
	stopOnce sync.Once
	quit     chan struct{}
	finished chan struct{}
}

const (
	liveEvery = 250 * time.Millisecond
	logEvery  = 10 * time.Second
)

func newProgress(log, term io.Writer, total int64) *progress {
	return &progress{log: log, term: term, total: total, quit: make(chan struct{}), finished: make(chan struct{})}
}

func (p *progress) add(n int64) { p.done.Add(n) }

func (p *progress) start() {
	p.began = time.Now()
	every := logEvery
	if p.term != nil {
		every = liveEvery
	}
	go func() {
		defer close(p.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.show()
			}
		}
	}()
}

func (p *progress) stop() {
	p.stopOnce.Do(func() {
		close(p.quit)
		<-p.finished
		p.mu.Lock()
		defer p.mu.Unlock()
		p.clear()
	})
}

func (p *progress) line() string {
	done := p.done.Load()
	secs := time.Since(p.began).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(done) / secs
	}
	eta := "?"
	if rate > 0 && p.total > done {
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%.1f/%.1f MB, %.1f MB/s, ETA %s", float64(done)/1e6, float64(p.total)/1e6, rate/1e6, eta)
}

func (p *progress) show() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.term == nil {
		fmt.Fprintf(p.log, "progress: %s\n", p.line())
		return
	}
	fmt.Fprintf(p.term, "\r\033[K%s", p.line())
	p.live = true
}

// clear removes the live line; the caller holds mu.
func (p *progress) clear() {
	if p.live {
		fmt.Fprint(p.term, "\r\033[K")
		p.live = false
	}
}

func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.log, format+"\n", args...)
}
