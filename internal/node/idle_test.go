package node

import (
	"slices"
	"testing"
	"time"
)

// TestIdleBookNotPolled: once two nodes are in sync and nothing happens,
// the reconnect loop does not look at the sessions for the peer book
// (it did every second: about one wake-up a second of every idle node),
// yet the book learnt the peer as soon as the sync made progress.
func TestIdleBookNotPolled(t *testing.T) {
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	id, tk := invited(t, a, "garden")
	joinWith(t, b, tk)
	waitFor(t, 30*time.Second, "the peers in the books", func() bool {
		return slices.Contains(a.BookPeers(id), b.Author()) && slices.Contains(b.BookPeers(id), a.Author())
	})
	// Records still due from the sync's last progress run within
	// bookEvery: wait until a's count stays the same across one.
	var before int64 = -1
	waitFor(t, 30*time.Second, "the books to settle", func() bool {
		n := a.rc.records.Load()
		quiet := n == before
		before = n
		time.Sleep(bookEvery + 200*time.Millisecond) // sampling interval
		return quiet
	})
	time.Sleep(3 * time.Second) // the idle interval being observed, not synchronization
	if after := a.rc.records.Load(); after != before {
		t.Errorf("an idle node looked at its sessions for the book %d times in 3 s", after-before)
	}
}
