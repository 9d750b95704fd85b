package loam_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/testkit"
)

// BenchmarkDiskUsage writes a space and reports the bytes the node's home
// has allocated on disk (blocks, as du counts them) beside the payload
// bytes written (the values; keys and commit headers are overhead):
//
//   - small: 100,000 values of 100 B (10 MB), the "small store";
//   - values=1000000: 1,000,000 values of 100 B (100 MB);
//   - keys=100000/writes=10: 100,000 keys each written 10 times (1,000,000
//     writes, 100 MB of payload, 10 MB of it live). Under keep-history
//     (the default) every payload is kept: the target is alloc ≤ 2x all
//     payloads; under live-only (…/live-only, through a daemon: alloc-B
//     is read after its retention pass, closed-B is compacted-B) the
//     replaced values go: the target is ≤ 2x the live payload plus
//     headers.
//
// Values are random (incompressible), written in commits of 1,000 ops.
// alloc-B is measured with the node open, once its writes are durable
// (what du of a running daemon's home shows); compacted-B after
// Node.Compact of the whole store; closed-B after Close. Each iteration
// writes a fresh home: run with -benchtime 1x. The figures beside today's
// are in docs/benchmarks.md, "Disk that matches the data (issue 14)".
func BenchmarkDiskUsage(b *testing.B) {
	for _, c := range []struct {
		name         string
		keys, writes int
		liveOnly     bool
	}{
		{"small", 100_000, 1, false},
		{"values=1000000", 1_000_000, 1, false},
		{"keys=100000/writes=10", 100_000, 10, false},
		// The space under live-only retention: the replaced values are
		// dropped (the node's retention pass, run once the writes are
		// done) before the compaction. Through a daemon, whose node
		// the benchmark asks for the pass.
		{"keys=100000/writes=10/live-only", 100_000, 10, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				diskUsage(b, c.keys, c.writes, c.liveOnly)
			}
		})
	}
}

func diskUsage(b *testing.B, keys, writes int, liveOnly bool) {
	ctx := context.Background()
	var n *loam.Node
	var home string
	var d *daemon
	if liveOnly {
		d = startDaemonSync(b, true)
		n, home = connect(b, d.home), d.home
	} else {
		home = b.TempDir()
		var err error
		if n, err = loam.Open(ctx, loam.Options{Home: home}); err != nil {
			b.Fatal(err)
		}
		defer n.Close()
	}
	sp, err := n.CreateSpace(ctx, "bench", loam.Public)
	if err != nil {
		b.Fatal(err)
	}
	if liveOnly {
		if err := sp.SetRetention(ctx, loam.Retention{Mode: loam.LiveOnly}); err != nil {
			b.Fatal(err)
		}
	}
	var payload int64
	for w := range writes {
		for c := 0; c < keys; c += 1000 {
			bt := sp.Batch()
			for i := c; i < c+1000 && i < keys; i++ {
				val := make([]byte, 100) // a batch keeps the slices it is given
				fillRandom(val, uint64(w)<<32|uint64(i))
				bt.Put(fmt.Appendf(nil, "key/%08d", i), val)
				payload += int64(len(val))
			}
			if err := bt.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if liveOnly {
		if _, err := d.n.ApplyRetention(ctx); err != nil {
			b.Fatal(err)
		}
	}
	open := du(b, home)
	compacted := open
	// compact: (removed to measure a tree without Node.Compact)
	if _, _, err := n.Compact(ctx, "", nil); err != nil {
		b.Fatal(err)
	}
	compacted = du(b, home)
	// end compact
	if err := n.Close(); err != nil {
		b.Fatal(err)
	}
	closed := du(b, home)
	b.StartTimer()
	b.ReportMetric(float64(payload), "payload-B")
	b.ReportMetric(float64(keys*100), "live-payload-B")
	b.ReportMetric(float64(open.total), "alloc-B")
	b.ReportMetric(float64(compacted.total), "compacted-B")
	b.ReportMetric(float64(closed.total), "closed-B")
	b.ReportMetric(float64(open.total)/float64(payload), "alloc/payload")
	b.Logf("open: %s; compacted: %s; closed: %s", open, compacted, closed)
}

// fillRandom fills p with bytes that do not compress, from seed.
func fillRandom(p []byte, seed uint64) {
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
}

// duReport is what du finds in a home, by kind of file.
type duReport struct {
	total, logs, tables, reserve, blobs, other int64
}

func (r duReport) String() string {
	m := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	return fmt.Sprintf("total %s (WAL %s, sstables %s, loam-reserve %s, blobs %s, other %s)",
		m(r.total), m(r.logs), m(r.tables), m(r.reserve), m(r.blobs), m(r.other))
}

// du returns the bytes allocated to the files under dir (st_blocks × 512,
// as du counts them).
func du(b testing.TB, dir string) duReport {
	var r duReport
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n := testkit.Allocated(fi)
		r.total += n
		switch name := d.Name(); {
		case d.IsDir():
		case strings.HasSuffix(name, ".log"):
			r.logs += n
		case strings.HasSuffix(name, ".sst"):
			r.tables += n
		case name == "loam-reserve":
			r.reserve += n
		case strings.Contains(p, string(filepath.Separator)+"blobs"+string(filepath.Separator)):
			r.blobs += n
		default:
			r.other += n
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return r
}
