package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// TestWaitSynced: right after a join, WaitSynced returns once the joiner
// holds what the inviter had when it announced its heads, and the
// inviter holds the joiner's grant: no timer, no polling by the caller.
// Offline it fails at once.
func TestWaitSynced(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	b := openNode(t, t.TempDir())
	sp := newSpace(t, a, "garden")
	for i := range 300 {
		put(t, a, sp.ID(), fmt.Sprintf("k/%03d", i), "v")
	}
	tk := inviteFor(t, a, "garden", commit.RoleWrite, time.Hour)
	parsed, err := keys.ParseTicket(tk.String())
	if err != nil {
		t.Fatal(err)
	}
	joinWith(t, b, parsed)
	if err := b.WaitSynced(ctx, sp.ID()); err != nil {
		t.Fatal(err)
	}
	aHeads, err := a.st.SyncHeads(ctx, sp.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range aHeads {
		if h.Author == b.Author() {
			continue // b's own: checked below, on a
		}
		if _, err := b.st.CommitByID(ctx, sp.ID(), h.ID); err != nil {
			t.Errorf("b lacks a's head %s of %s after WaitSynced: %v", h.ID.Short(), h.Author.Short(), err)
		}
	}
	// b's join went out: a holds b's grant soon after (it was sent, and
	// a stores what arrives in order).
	waitFor(t, 10*time.Second, "a to hold b's join", func() bool {
		r, err := a.st.Role(ctx, sp.ID(), b.Author())
		return err == nil && r == commit.RoleWrite
	})

	// A node alone waits until its context ends.
	c := openNode(t, t.TempDir())
	csp := newSpace(t, c, "alone")
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := c.WaitSynced(short, csp.ID()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitSynced with no peer: %v", err)
	}

	off, err := Open(ctx, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	osp := newSpace(t, off, "offline")
	if err := off.WaitSynced(ctx, osp.ID()); !errors.Is(err, ErrOffline) {
		t.Errorf("WaitSynced offline: %v", err)
	}
}
