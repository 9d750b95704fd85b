package node

import (
	"context"
	"testing"
	"time"
)

// TestCloseEndsWatches: Close ends every watch of the node, whatever its
// context: a watcher does not outlive the node.
func TestCloseEndsWatches(t *testing.T) {
	n, err := Open(context.Background(), Options{Home: t.TempDir(), Offline: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := n.CreateSpace(ctxT(t), "garden")
	if err != nil {
		t.Fatal(err)
	}
	events := n.Hub().Watch(context.Background(), sp.ID(), nil)
	n.Close()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the watch still runs after Close")
		}
	}
}
