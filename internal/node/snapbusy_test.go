package node

import (
	"context"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// TestJoinSnapServerBusy: a peer that resets the joiner's snapshot stream
// at once because all its serving slots are taken (snapServe.enter), as
// it does by design, is not punished for it: the joiner syncs the whole
// history from it instead. Before, any error of the offer, a reset or a
// timeout as well as a bad offer, blocked the peer for a minute: the
// join then waited for the invite's grant until its deadline.
func TestJoinSnapServerBusy(t *testing.T) {
	a := openNode(t, t.TempDir())
	id, _ := invited(t, a, "garden")
	a.snaps.mu.Lock()
	a.snaps.active = map[keys.AuthorID]bool{}
	for i := range maxSnapStreams { // every slot taken by other joiners
		a.snaps.active[keys.DeviceKeyFromSeed([32]byte{byte(i + 1), 91}).Author()] = true
	}
	a.snaps.mu.Unlock()
	b := openNode(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Join(ctx, inviteFor(t, a, "garden", commit.RoleWrite, time.Hour)); err != nil {
		t.Fatalf("join from a peer whose snapshot slots are all taken: %v (refusals %v)", err, b.Counters().Misbehaving)
	}
	if got := b.Counters().Misbehaving["bad_snapshot"]; got != 0 {
		t.Errorf("the joiner punished the busy peer %d times", got)
	}
	if _, err := b.st.Space(ctx, id); err != nil {
		t.Fatal(err)
	}
}
