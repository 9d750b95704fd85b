package bodylog

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestConcurrentReads: readers read places as soon as Append returns them,
// while the writer appends, syncs, rolls segments and removes old ones,
// and Segments is listed; with 3 open segments at most, readers keep
// evicting each other's handles. Run it under -race. Every read returns
// the record's bytes, or ErrCorrupt for a segment already removed.
func TestConcurrentReads(t *testing.T) {
	l := mustOpen(t, vfs.Default, t.TempDir(), Options{SegmentSize: 32 << 10, MaxOpenSegments: 3})
	defer l.Close()

	var (
		mu        sync.Mutex // guards places
		places    []Place    // record i is body(i, Len) at places[i]
		removedTo atomic.Uint32
		done      atomic.Bool
		reads     atomic.Int64
	)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(r), 9))
			var buf []byte
			for !done.Load() || reads.Load() < 2000 {
				mu.Lock()
				n := len(places)
				var i int
				var p Place
				if n > 0 {
					i = rnd.IntN(n)
					p = places[i]
				}
				mu.Unlock()
				if n == 0 {
					continue
				}
				if r == 0 && i%50 == 0 {
					_ = l.Segments()
				}
				var err error
				buf, err = l.Read(p, buf[:0])
				reads.Add(1)
				switch {
				case err == nil && !bytes.Equal(buf, body(i, int(p.Len))):
					errs <- errors.New("a read returned other bytes")
					return
				case err != nil && !(errors.Is(err, ErrCorrupt) && p.Seg <= removedTo.Load()):
					errs <- err
					return
				}
			}
		}()
	}

	rnd := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 2000; {
		group := make([][]byte, 1+rnd.IntN(20))
		for j := range group {
			group[j] = body(i+j, rnd.IntN(2000))
		}
		ps, err := l.Append(group...)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		places = append(places, ps...)
		mu.Unlock()
		i += len(group)
		if rnd.IntN(8) == 0 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		// Keep the last 10 segments.
		if segs := l.Segments(); len(segs) > 10 {
			old := segs[0].Seg
			removedTo.Store(old)
			if err := l.Remove(old); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(l.open); n > 3 {
		t.Errorf("%d segments open, want at most 3", n)
	}
}
