package bodylog

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"pgregory.net/rapid"
)

// TestCrash: a log appended and synced in rounds on a crashable file
// system loses power at a random point (vfs.MemFS.CrashClone, keeping a
// random share of what was not synced). Opened again:
//   - every record appended before the last Sync that returned reads back;
//   - the records that read back are a prefix of those appended: after the
//     first that does not, none does (Read fails with ErrCorrupt, never
//     returning other bytes);
//   - the tail segment's file ends at the last surviving record: nothing
//     past a torn record is kept;
//   - Append works, at places that overlap no surviving record, and all
//     of it reads back after a Sync, a second crash and a reopen.
func TestCrash(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fs := vfs.NewCrashableMem()
		o := Options{
			SegmentSize:     int64(rapid.SampledFrom([]int{64, 1 << 10, 8 << 10, 64 << 10}).Draw(rt, "segment")),
			MaxOpenSegments: rapid.IntRange(1, 4).Draw(rt, "open"),
		}
		l := mustOpen(rt, fs, "home/bodies", o)
		var recs [][]byte
		var places []Place
		synced := 0 // records appended before the last Sync
		for range rapid.IntRange(0, 12).Draw(rt, "rounds") {
			group := make([][]byte, rapid.IntRange(0, 20).Draw(rt, "group"))
			for i := range group {
				n := rapid.IntRange(0, 300).Draw(rt, "len")
				if rapid.IntRange(0, 9).Draw(rt, "big") == 0 {
					n = rapid.IntRange(0, 20<<10).Draw(rt, "biglen")
				}
				group[i] = body(len(recs)+i, n)
			}
			ps, err := l.Append(group...)
			if err != nil {
				rt.Fatal(err)
			}
			recs, places = append(recs, group...), append(places, ps...)
			if rapid.Bool().Draw(rt, "sync") {
				if err := l.Sync(); err != nil {
					rt.Fatal(err)
				}
				synced = len(recs)
			}
		}
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "rng"), 0))
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rapid.IntRange(0, 100).Draw(rt, "unsynced%"), RNG: rng})
		l.Close()

		l = mustOpen(rt, crashed, "home/bodies", o)
		survived := checkPrefix(rt, l, recs, places, synced)
		checkTail(rt, crashed, l, places[:survived])

		// Append after the crash, clear of what survived.
		var more [][]byte
		for i := range rapid.IntRange(1, 20).Draw(rt, "more") {
			more = append(more, body(1000+i, rapid.IntRange(0, 2000).Draw(rt, "morelen")))
		}
		ps, err := l.Append(more...)
		if err != nil {
			rt.Fatalf("Append after the crash: %v", err)
		}
		for _, p := range ps {
			for _, q := range places[:survived] {
				if p.Seg == q.Seg && p.Off < q.Off+recordHeaderSize+q.Len && q.Off < p.Off+recordHeaderSize+p.Len {
					rt.Fatalf("new record at %v overlaps the surviving %v", p, q)
				}
			}
		}
		if err := l.Sync(); err != nil {
			rt.Fatal(err)
		}
		again := crashed.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})
		l.Close()
		l = mustOpen(rt, again, "home/bodies", o)
		defer l.Close()
		for i, p := range places[:survived] {
			checkRead(rt, l, p, recs[i])
		}
		for i, p := range ps {
			checkRead(rt, l, p, more[i])
		}
		checkTail(rt, again, l, ps)
	})
}

// checkTail checks that the tail segment's file ends where the last of
// places does (if it is in the tail), or holds no record: a torn tail was
// cut, whole records past it too.
func checkTail(t *rapid.T, fs vfs.FS, l *Log, places []Place) {
	segs := l.Segments()
	tail := segs[len(segs)-1]
	want := int64(headerSize)
	if len(places) > 0 {
		if p := places[len(places)-1]; p.Seg == tail.Seg {
			want = int64(p.Off) + recordSize(int(p.Len))
		}
	}
	fi, err := fs.Stat(l.path(tail.Seg))
	if err != nil {
		t.Fatal(err)
	}
	if tail.Size != want || fi.Size() != want {
		t.Fatalf("tail %s: the log says %d bytes, the file has %d, want %d", segName(tail.Seg), tail.Size, fi.Size(), want)
	}
}

// checkPrefix checks that the records at places that read back are a
// prefix of recs of at least synced records, and returns its length.
func checkPrefix(t *rapid.T, l *Log, recs [][]byte, places []Place, synced int) int {
	survived := len(recs)
	for i, p := range places {
		got, err := l.Read(p, nil)
		switch {
		case err == nil && bytes.Equal(got, recs[i]):
			if i >= survived {
				t.Fatalf("record %d at %v reads back after record %d was lost", i, p, survived)
			}
		case err == nil:
			t.Fatalf("record %d at %v reads back other bytes", i, p)
		case !errors.Is(err, ErrCorrupt):
			t.Fatalf("record %d at %v: %v, want ErrCorrupt", i, p, err)
		case i < synced:
			t.Fatalf("record %d at %v, appended before the last Sync, is lost: %v", i, p, err)
		default:
			survived = min(survived, i)
		}
	}
	return survived
}
