package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/loamdb/loam"
)

// humanBytes formats n bytes with a binary unit: "512 B", "3.4 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// isTerminal reports whether stream, a command's standard input, output
// or error, is a terminal (a character device).
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws a download's progress on one line of w (stderr):
// percent, bytes, rate, time left and peers, at most ten times a second.
type progressBar struct {
	w     io.Writer
	start time.Time

	mu     sync.Mutex
	last   time.Time
	drawn  bool
	first  int64 // bytes held when the download started
	primed bool
}

func newProgressBar(w io.Writer) *progressBar { return &progressBar{w: w, start: time.Now()} }

// update draws p, unless the last drawing is less than 100 ms old and p is
// not the end.
func (b *progressBar) update(p loam.BlobProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.primed {
		b.first, b.primed = p.Done, true
	}
	now := time.Now()
	if now.Sub(b.last) < 100*time.Millisecond && p.Done != p.Total {
		return
	}
	b.last = now
	elapsed := now.Sub(b.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.Done-b.first) / elapsed
	}
	pct := 100.0
	if p.Total > 0 {
		pct = 100 * float64(p.Done) / float64(p.Total)
	}
	eta := "--"
	if rate > 0 && p.Done < p.Total {
		eta = time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second)).Round(time.Second).String()
	} else if p.Done == p.Total {
		eta = "0s"
	}
	const width = 24
	filled := int(pct / 100 * width)
	line := fmt.Sprintf("\r[%s%s] %5.1f%%  %s / %s  %s/s  ETA %s  %s ",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), pct,
		humanBytes(p.Done), humanBytes(p.Total), humanBytes(int64(rate)), eta, plural(p.Peers, "peer"))
	fmt.Fprint(b.w, line)
	b.drawn = true
}

// finish ends the line if anything was drawn.
func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
