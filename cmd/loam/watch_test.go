package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
)

// TestWatchResyncCLI: a 'loam watch' whose output nobody reads while 24 MB
// of changes are written falls behind; the daemon drops what it cannot
// keep, and the watch prints a resync, then the changes after it.
func TestWatchResyncCLI(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	d := startDaemon(t, h, loopbackDaemon...)
	w := startWatch(t, h, "garden") // its lines are not read until the writes are done
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := []byte(strings.Repeat("v", 4<<10))
	for i := range 24 {
		ops := make([]api.BatchOp, 250)
		for j := range ops {
			ops[j] = api.PutOp(fmt.Appendf(nil, "k/%02d/%03d", i, j), value)
		}
		if _, err := d.client.Batch(ctx, "garden", ops); err != nil {
			t.Fatal(err)
		}
	}
	// It prints what it had before it fell behind, then the resync.
	read := 0
	for e := w.next(t, 20*time.Second); e.Op != api.OpResync; e = w.next(t, 20*time.Second) {
		read++
	}
	t.Logf("%d changes printed before the resync, of %d", read, 24*250)
	if read >= 24*250 {
		t.Fatal("every change printed before the resync")
	}
	// The changes after it are printed.
	if err := d.client.Put(ctx, "garden", []byte("end"), []byte("!")); err != nil {
		t.Fatal(err)
	}
	for e := w.next(t, 20*time.Second); e.Key == nil || *e.Key != "end"; e = w.next(t, 20*time.Second) {
		if e.Op != api.OpResync && strings.HasPrefix(*e.Key, "k/") {
			t.Fatalf("a change from before the resync after it: %s", *e.Key)
		}
	}
	w.stop(t)
}
