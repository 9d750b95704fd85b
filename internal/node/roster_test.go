package node

import (
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
)

// TestRosterCached: the members of a space are decided again only when an
// event may have changed them (here an invite and a join), not for data
// writes, and the list is then the new one.
func TestRosterCached(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	sp := newSpace(t, a, "club")
	reads := func() int {
		a.roster.mu.Lock()
		defer a.roster.mu.Unlock()
		return a.roster.reads
	}
	ms, err := a.Members(ctx, "club")
	if err != nil || len(ms) != 1 {
		t.Fatalf("members: %v, %v", ms, err)
	}
	r0 := reads()
	for i := range 5 {
		if _, err := sp.Commit(ctx, []commit.Op{commit.Put([]byte{'k', byte(i)}, []byte("v"))}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Members(ctx, "club"); err != nil {
			t.Fatal(err)
		}
	}
	if r := reads(); r != r0 {
		t.Errorf("data writes made the roster be decided again %d times", r-r0)
	}
	b := openNode(t, t.TempDir())
	joinAs(t, a, b, "club", commit.RoleWrite, time.Hour)
	waitFor(t, time.Minute, "b's join at a", func() bool {
		ms, err := a.Members(ctx, "club")
		return err == nil && len(ms) >= 3 // a, the invite, b
	})
	if reads() == r0 {
		t.Error("the join did not make the roster be decided again")
	}
}
