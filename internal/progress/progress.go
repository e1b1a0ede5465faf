// Package progress shows how far a long copy is: on a terminal one live
// line (bytes done/total, rate, ETA) redrawn in place, elsewhere plain log
// lines, with the meter's line every PlainEvery. The clock is injected so
// rate and ETA can be tested.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Meter counts bytes done against a total that may grow as work is
// discovered. It is safe for concurrent use.
type Meter struct {
	now   func() time.Time
	mu    sync.Mutex
	start time.Time
	done  int64
	total int64
}

// NewMeter starts a meter at now().
func NewMeter(now func() time.Time) *Meter {
	return &Meter{now: now, start: now()}
}

// AddTotal grows the amount of work by n bytes.
func (m *Meter) AddTotal(n int64) {
	m.mu.Lock()
	m.total += n
	m.mu.Unlock()
}

// Add records n more bytes done.
func (m *Meter) Add(n int64) {
	m.mu.Lock()
	m.done += n
	m.mu.Unlock()
}

// Snapshot is the meter's state at one instant.
func (m *Meter) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Snapshot{Done: m.done, Total: m.total, Elapsed: m.now().Sub(m.start)}
}

// Reader counts what is read through r as done.
func (m *Meter) Reader(r io.Reader) io.Reader { return &countingReader{r: r, m: m} }

type countingReader struct {
	r io.Reader
	m *Meter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.m.Add(int64(n))
	}
	return n, err
}

// Snapshot is bytes done out of a total after some time.
type Snapshot struct {
	Done, Total int64
	Elapsed     time.Duration
}

// Rate is the average throughput since the start, in bytes per second;
// 0 before any time has passed.
func (s Snapshot) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Done) / s.Elapsed.Seconds()
}

// ETA is the time left at the average rate; ok is false while the rate is
// unknown (nothing done yet).
func (s Snapshot) ETA() (time.Duration, bool) {
	r := s.Rate()
	if r <= 0 {
		return 0, false
	}
	left := s.Total - s.Done
	if left <= 0 {
		return 0, true
	}
	return time.Duration(float64(left) / r * float64(time.Second)).Round(time.Second), true
}

// Line is the live line: "12.0 MB / 100.0 MB  6.0 MB/s  ETA 0:15".
func (s Snapshot) Line() string {
	eta := "ETA --:--"
	if d, ok := s.ETA(); ok {
		eta = "ETA " + Clock(d)
	}
	return fmt.Sprintf("%s / %s  %s  %s", Bytes(s.Done), Bytes(s.Total), MBps(s.Rate()), eta)
}

// Bytes formats n in decimal units (kB, MB, GB), as rates are in MB/s.
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB"} {
		f /= unit
		if f < unit || u == "GB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return "" // not reached
}

// MBps formats a rate in bytes per second as MB/s.
func MBps(bytesPerSecond float64) string {
	return fmt.Sprintf("%.1f MB/s", bytesPerSecond/1e6)
}

// Clock formats d as m:ss, or h:mm:ss from an hour on.
func Clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// IsTerminal reports whether f is a terminal, where a live line makes sense.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Display writes log lines to w and, when live, keeps the meter's line
// at the bottom, redrawn by Tick (Run calls it periodically).
type Display struct {
	w     io.Writer
	live  bool
	meter *Meter
	mu    sync.Mutex
	shown bool // a live line is on screen and must be cleared first
}

// NewDisplay writes to w; live draws the meter's line (terminals only).
func NewDisplay(w io.Writer, live bool, m *Meter) *Display {
	return &Display{w: w, live: live, meter: m}
}

// Meter is the meter the display draws.
func (d *Display) Meter() *Meter { return d.meter }

// clearLine returns the cursor to the start of a cleared line.
const clearLine = "\r\x1b[K"

// Logf prints one line, above the live line when there is one.
func (d *Display) Logf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	if d.shown {
		fmt.Fprint(d.w, clearLine)
		d.shown = false
	}
	fmt.Fprintln(d.w, msg)
	d.drawLocked()
}

// Tick redraws the live line; it does nothing when the display is not live.
func (d *Display) Tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drawLocked()
}

func (d *Display) drawLocked() {
	if !d.live {
		return
	}
	fmt.Fprint(d.w, clearLine+d.meter.Snapshot().Line())
	d.shown = true
}

// Done clears the live line, so what follows starts on a clean line.
func (d *Display) Done() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shown {
		fmt.Fprint(d.w, clearLine)
		d.shown = false
	}
}

// PlainEvery is how often Run logs the meter's line where no live line
// is drawn: often enough to show a long copy in a CI log is alive, rarely
// enough not to flood it.
const PlainEvery = 10 * time.Second

// Run redraws the live line every interval (elsewhere logs it every
// PlainEvery) until stop is closed, then clears the line.
func (d *Display) Run(interval time.Duration, stop <-chan struct{}) {
	if !d.live {
		interval = PlainEvery
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			d.Done()
			return
		case <-t.C:
			if d.live {
				d.Tick()
			} else {
				d.Logf("progress: %s", d.meter.Snapshot().Line())
			}
		}
	}
}
