package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestSnapshotRateAndETA(t *testing.T) {
	tests := []struct {
		name        string
		total, done int64
		after       time.Duration
		rate        float64
		eta         time.Duration
		etaKnown    bool
		line        string
	}{
		{"nothing yet", 100e6, 0, 0, 0, 0, false, "0 B / 100.0 MB  0.0 MB/s  ETA --:--"},
		{"no bytes after a second", 100e6, 0, time.Second, 0, 0, false, "0 B / 100.0 MB  0.0 MB/s  ETA --:--"},
		{"half way", 100e6, 50e6, 2 * time.Second, 25e6, 2 * time.Second, true, "50.0 MB / 100.0 MB  25.0 MB/s  ETA 0:02"},
		{"slow and long", 2e9, 1e6, 10 * time.Second, 1e5, 19990 * time.Second, true, "1.0 MB / 2.0 GB  0.1 MB/s  ETA 5:33:10"},
		{"done", 3000, 3000, 3 * time.Second, 1000, 0, true, "3.0 kB / 3.0 kB  0.0 MB/s  ETA 0:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClock{t: time.Unix(1000, 0)}
			m := NewMeter(c.now)
			m.AddTotal(tt.total)
			m.Add(tt.done)
			c.advance(tt.after)
			s := m.Snapshot()
			if got := s.Rate(); got != tt.rate {
				t.Errorf("Rate = %v, want %v", got, tt.rate)
			}
			eta, ok := s.ETA()
			if ok != tt.etaKnown || eta != tt.eta {
				t.Errorf("ETA = %v, %v; want %v, %v", eta, ok, tt.eta, tt.etaKnown)
			}
			if got := s.Line(); got != tt.line {
				t.Errorf("Line = %q, want %q", got, tt.line)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{Bytes(0), "0 B"},
		{Bytes(999), "999 B"},
		{Bytes(1000), "1.0 kB"},
		{Bytes(1536000), "1.5 MB"},
		{Bytes(1073741824), "1.1 GB"},
		{Bytes(5e12), "5000.0 GB"},
		{MBps(123.45e6), "123.5 MB/s"},
		{Clock(59 * time.Second), "0:59"},
		{Clock(61*time.Second + 400*time.Millisecond), "1:01"},
		{Clock(3600 * time.Second), "1:00:00"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestReaderCounts(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	m := NewMeter(c.now)
	n, err := io.Copy(io.Discard, m.Reader(strings.NewReader(strings.Repeat("x", 12345))))
	if err != nil || n != 12345 {
		t.Fatalf("copy: %d, %v", n, err)
	}
	if got := m.Snapshot().Done; got != 12345 {
		t.Fatalf("Done = %d, want 12345", got)
	}
}

func TestDisplay(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	t.Run("plain writes only log lines", func(t *testing.T) {
		var buf bytes.Buffer
		d := NewDisplay(&buf, false, NewMeter(c.now))
		d.Logf("one %d", 1)
		d.Tick()
		d.Logf("two\n")
		d.Done()
		if got := buf.String(); got != "one 1\ntwo\n" {
			t.Fatalf("output %q", got)
		}
	})
	t.Run("live keeps the line below the logs", func(t *testing.T) {
		var buf bytes.Buffer
		m := NewMeter(c.now)
		m.AddTotal(2e6)
		d := NewDisplay(&buf, true, m)
		d.Tick()
		m.Add(1e6)
		c.advance(time.Second)
		d.Logf("image a")
		d.Done()
		want := clearLine + "0 B / 2.0 MB  0.0 MB/s  ETA --:--" +
			clearLine + "image a\n" +
			clearLine + "1.0 MB / 2.0 MB  1.0 MB/s  ETA 0:01" +
			clearLine
		if got := buf.String(); got != want {
			t.Fatalf("output\n%q\nwant\n%q", got, want)
		}
	})
}
