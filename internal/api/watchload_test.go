package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/space"
)

// stalledWatch opens a watch over a raw connection, reads until the stream says it is registered, and then reads
// nothing more. It returns the connection and its reader.
func stalledWatch(t *testing.T, f *fixture, sp string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/spaces/%s/watch HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", sp, f.srv.Listener.Addr(), f.token)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if strings.HasPrefix(line, ": watching") {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
	return conn, r
}

// longCtx bounds a test that writes 100 MB: under the race detector on a
// busy two-core machine that takes most of ctxT's minute (52 s seen), so
// the bound is five.
func longCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// writeBatches writes n batches of 250 keys k/BBB/III with 4 KiB values
// (1 MB a batch), calling before(b) first.
const perBatch = 250

func writeBatches(t *testing.T, f *fixture, n int, before func(b int)) {
	t.Helper()
	ctx := longCtx(t)
	value := strings.Repeat("v", 4<<10)
	for b := range n {
		before(b)
		ops := make([]BatchOp, perBatch)
		for i := range ops {
			ops[i] = PutOp(fmt.Appendf(nil, "k/%03d/%03d", b, i), []byte(value))
		}
		if _, err := f.c.Batch(ctx, "garden", ops); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStalledWatchClients: three clients that stop reading, and one that
// pauses, while 100 MB of changes are written: the watch queues stay
// under the hub's limit and the heap does not grow by more; a client that
// keeps up misses nothing; the one that paused gets a resync and then
// every later change.
func TestStalledWatchClients(t *testing.T) {
	ctx := longCtx(t)
	f := serve(t, false)
	// Slow here means slower than the writes, not gone: under the race
	// detector on a busy machine they take more than the default timeout.
	f.server.watchTimeout = 10 * time.Minute
	f.c.CreateSpace(ctx, "garden")
	for range 3 {
		stalledWatch(t, f, "garden")
	}
	slow, err := f.c.Watch(ctx, "garden", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := f.c.Watch(ctx, "garden", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	var seen atomic.Int64 // changes the fast client read
	fastDone := make(chan error, 1)
	const batches = 100
	go func() {
		for i := range batches * perBatch {
			b, j := i/perBatch, i%perBatch
			e, err := fast.Next()
			if err == nil && (e.Op != OpPut || e.Key == nil || *e.Key != fmt.Sprintf("k/%03d/%03d", b, j)) {
				err = fmt.Errorf("event %d is %s %v, want a put of k/%03d/%03d", i, e.Op, e.Key, b, j)
			}
			if err != nil {
				fastDone <- err
				return
			}
			seen.Add(1)
		}
		fastDone <- nil
	}()

	before := int64(liveHeap())
	var maxQueued, grown int64
	writeBatches(t, f, batches, func(b int) {
		maxQueued = max(maxQueued, f.n.Hub().Stats().Queued)
		if b%25 == 24 {
			grown = max(grown, int64(liveHeap())-before)
		}
		// The fast client keeps up: the writer lets it lag by at most
		// four batches (4 MB), whatever the machine's load.
		for deadline := time.Now().Add(30 * time.Second); seen.Load() < int64(b-4)*perBatch; {
			if time.Now().After(deadline) {
				t.Fatalf("the fast client read %d changes in 30 s, want %d", seen.Load(), (b-4)*perBatch)
			}
			time.Sleep(time.Millisecond) // re-check interval
		}
	})
	st := f.n.Hub().Stats()
	t.Logf("heap grew by at most %.1f MiB; at most %.1f MiB queued; %+v", float64(grown)/(1<<20), float64(maxQueued)/(1<<20), st)
	if maxQueued > space.DefaultHubLimits.Total {
		t.Errorf("%d bytes queued, over the hub's limit of %d", maxQueued, space.DefaultHubLimits.Total)
	}
	switch {
	case raceDetector:
		t.Log("the heap is not checked under the race detector: Pebble's caches are on it")
	case grown > 64<<20:
		t.Errorf("the heap grew by %d MiB, want under 64", grown>>20)
	}
	if st.Resyncs < 4 {
		t.Errorf("%d resyncs, want one for each client that stopped reading", st.Resyncs)
	}
	if m := scrape(t, f); m["loam_watch_resyncs_total"] != float64(st.Resyncs) || m["loam_watches"] != 5 {
		t.Errorf("metrics: %v resyncs, %v watches; want %d and 5", m["loam_watch_resyncs_total"], m["loam_watches"], st.Resyncs)
	}
	if err := <-fastDone; err != nil {
		t.Fatalf("the fast client: %v", err)
	}

	// The slow client reads again: what was sent before it fell behind,
	// a resync, then the changes after it.
	resynced := false
	for !resynced {
		e, err := next(t, slow)
		if err != nil {
			t.Fatal(err)
		}
		resynced = e.Op == OpResync
	}
	if err := f.c.Put(ctx, "garden", []byte("end"), []byte("!")); err != nil {
		t.Fatal(err)
	}
	for {
		e, err := next(t, slow)
		if err != nil {
			t.Fatal(err)
		}
		if e.Op == OpResync {
			continue // its goroutine had taken one and then it fell behind again
		}
		if e.Key != nil && *e.Key == "end" {
			break
		}
	}
}

// TestWatchClientDropped: a client that reads nothing while its stream
// cannot be written is dropped after the write timeout: its watch ends
// and the connection is closed.
func TestWatchClientDropped(t *testing.T) {
	f := serve(t, false)
	f.server.watchTimeout = time.Second
	f.c.CreateSpace(ctxT(t), "garden")
	conn, r := stalledWatch(t, f, "garden")
	writeBatches(t, f, 30, func(int) {}) // 30 MB: more than the socket buffers hold
	deadline := time.Now().Add(30 * time.Second)
	for f.n.Hub().Stats().Watchers > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled client's watch still runs 30 s later: %+v", f.n.Hub().Stats())
		}
		time.Sleep(5 * time.Millisecond) // re-check interval
	}
	// Its connection is closed: what was sent before ends, not in a
	// timeout.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, r)
	t.Logf("read %d bytes sent before, then %v", n, err)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open: %v", err)
	}
}
