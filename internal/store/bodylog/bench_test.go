package bodylog

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// benchFS are the file systems the benchmarks run on: the OS's (a
// directory under the test's temporary directory, fsync and all) and
// memory (the log's own cost).
func benchFS(b *testing.B) []struct {
	name string
	fs   vfs.FS
	dir  string
} {
	return []struct {
		name string
		fs   vfs.FS
		dir  string
	}{
		{"os", vfs.Default, b.TempDir()},
		{"mem", vfs.NewMem(), "bodies"},
	}
}

// BenchmarkAppendSync: a group commit's bodies: 500 records of 830 bytes
// appended, then synced, per op, on the OS's file system; and appended
// without the sync (the log's own cost and the write). MB/s counts the
// records' bytes. (Not on vfs.MemFS: its WriteAt grows a file a byte at
// a time, which would be most of what it measured.)
func BenchmarkAppendSync(b *testing.B) {
	group := make([][]byte, 500)
	for i := range group {
		group[i] = body(i, 830)
	}
	for _, sync := range []bool{true, false} {
		name := "sync"
		if !sync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			l := mustOpen(b, vfs.Default, b.TempDir(), Options{})
			defer l.Close()
			b.SetBytes(500 * 830)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(group...); err != nil {
					b.Fatal(err)
				}
				if !sync {
					continue
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead: reads of random places among 100,000 records of 830
// bytes (83 MB, two segments), one goroutine and one per CPU.
func BenchmarkRead(b *testing.B) {
	for _, c := range benchFS(b) {
		l := mustOpen(b, c.fs, c.dir, Options{})
		var places []Place
		group := make([][]byte, 500)
		for len(places) < 100_000 {
			for i := range group {
				group[i] = body(len(places)+i, 830)
			}
			ps, err := l.Append(group...)
			if err != nil {
				b.Fatal(err)
			}
			places = append(places, ps...)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			rnd := rand.New(rand.NewPCG(1, 1))
			b.SetBytes(830)
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = l.Read(places[rnd.IntN(len(places))], buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			b.SetBytes(830)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rnd := rand.New(rand.NewPCG(rand.Uint64(), 1))
				var buf []byte
				for pb.Next() {
					var err error
					if buf, err = l.Read(places[rnd.IntN(len(places))], buf[:0]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		l.Close()
	}
}

// BenchmarkOpen: opening a log whose tail segment is full (64 MiB of
// 830-byte records), which Open reads through to find a torn tail.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	l := mustOpen(b, vfs.Default, dir, Options{})
	group := make([][]byte, 500)
	for i := range group {
		group[i] = body(i, 830)
	}
	for {
		ps, err := l.Append(group...)
		if err != nil {
			b.Fatal(err)
		}
		if ps[len(ps)-1].Off > DefaultSegmentSize-500*(830+recordHeaderSize) {
			break
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(DefaultSegmentSize)
	for b.Loop() {
		l := mustOpen(b, vfs.Default, dir, Options{})
		if s := l.Segments(); len(s) != 1 {
			b.Fatalf("segments %v", s)
		}
		l.Close()
	}
}
