package loam_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam"
)

// TestWatchResync: a reader of Watch that stops reading while 24 MB of
// changes are written gets a Resync where changes were dropped, then
// every later change; Close ends the watch.
func TestWatchResync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := openEmbedded(t)
	sp, err := n.CreateSpace(ctx, "garden", loam.Public)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := sp.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 4<<10)
	for i := range 24 {
		b := sp.Batch()
		for j := range 250 {
			b.Put(fmt.Appendf(nil, "k/%02d/%03d", i, j), value)
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	read := 0
	for c := range changes {
		if c.Resync {
			if c.Key != nil || c.Value != nil || c.Author != "" {
				t.Errorf("a resync with a change: %+v", c)
			}
			break
		}
		read++
	}
	t.Logf("%d changes before the resync", read)
	if read >= 24*250 {
		t.Fatal("no resync")
	}
	if err := sp.Put(ctx, []byte("end"), []byte("!")); err != nil {
		t.Fatal(err)
	}
	for c := range changes {
		if string(c.Key) == "end" && string(c.Value) == "!" {
			break
		}
		if !c.Resync && bytes.HasPrefix(c.Key, []byte("k/")) {
			t.Fatalf("a change from before the resync after it: %s", c.Key)
		}
	}
	n.Close()
	select {
	case _, ok := <-changes:
		for ok {
			_, ok = <-changes
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end when the node closed")
	}
}
