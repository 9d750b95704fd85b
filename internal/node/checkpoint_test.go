package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// TestCheckpointRefused: a member without admin of the whole space, and a
// private space, get a checkpoint refused with an error that says why.
func TestCheckpointRefused(t *testing.T) {
	a := openSnapNode(t, t.TempDir())
	b := openSnapNode(t, t.TempDir())
	newSpace(t, a, "chat")
	joinAs(t, a, b, "chat", commit.RoleWrite, time.Hour)
	if _, err := b.Checkpoint(ctxT(t), "chat"); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("a writer's checkpoint: %v, want ErrNotAdmin", err)
	}
	privateSpace(t, a, "family")
	if _, err := a.Checkpoint(ctxT(t), "family"); !errors.Is(err, ErrCheckpointPrivate) {
		t.Errorf("a private space's checkpoint: %v, want ErrCheckpointPrivate", err)
	}
	if _, err := a.Checkpoint(ctxT(t), "chat"); err != nil {
		t.Errorf("the admin's checkpoint: %v", err)
	}
}

// TestSnapStreamsBounded: a node serves one snapshot stream per peer and
// maxSnapStreams in all.
func TestSnapStreamsBounded(t *testing.T) {
	var s snapServe
	peer := func(i byte) keys.AuthorID { return keys.AuthorID{i} }
	if !s.enter(peer(1)) || s.enter(peer(1)) {
		t.Fatal("a second stream of one peer was let in, or the first was not")
	}
	for i := range byte(maxSnapStreams - 1) {
		if !s.enter(peer(2 + i)) {
			t.Fatalf("stream %d of %d refused", i+2, maxSnapStreams)
		}
	}
	if s.enter(peer(100)) {
		t.Errorf("stream %d let in", maxSnapStreams+1)
	}
	s.leave(peer(1))
	if !s.enter(peer(100)) {
		t.Errorf("a slot freed was not taken")
	}
}

// TestBadSnapshotFallsBack: a peer serving a snapshot whose cells do not
// match its checkpoint is counted (bad_snapshot) and blocked; the joiner
// installs nothing and syncs the whole history from another peer.
func TestBadSnapshotFallsBack(t *testing.T) {
	ctx := ctxT(t)
	a, b, w := chatWithWriter(t)
	id := w.ID()
	k := checkpoint(t, a)
	cells := filepath.Join(a.snapDir(id), k.ID.String(), "3")
	bs, err := os.ReadFile(cells)
	if err != nil {
		t.Fatal(err)
	}
	bs[len(bs)/2] ^= 1
	if err := os.WriteFile(cells, bs, 0o600); err != nil {
		t.Fatal(err)
	}
	tk := inviteFor(t, a, "chat", commit.RoleRead, time.Hour)
	waitFor(t, time.Minute, "b to hold the invite", func() bool { return viewHash(b, id) == viewHash(a, id) })

	j := openSnapNode(t, t.TempDir())
	if _, err := j.Connect(ctx, b.Addrs()[0]+"/p2p/"+b.PeerID()); err != nil {
		t.Fatal(err)
	}
	joinWith(t, j, tk)
	if got := j.Counters().Misbehaving["bad_snapshot"]; got != 1 {
		t.Errorf("bad_snapshot counted %d times, want 1 (%v)", got, j.Counters().Misbehaving)
	}
	if f, err := j.st.Floor(ctx, id); err != nil || f != nil {
		t.Errorf("the joiner is floored (%+v, %v) from a bad snapshot", f, err)
	}
	waitFor(t, time.Minute, "the joiner to hold the space from b", func() bool { return viewHash(j, id) == viewHash(b, id) })
}

// TestJoinerServesSnapshot: a joiner that installed a checkpoint's
// snapshot serves it in turn: a later joiner whose other peer offers
// none installs it from the first joiner.
func TestJoinerServesSnapshot(t *testing.T) {
	ctx := ctxT(t)
	a, w, k := checkpointedChat(t, t.TempDir())
	id := w.ID()
	j1 := openSnapNode(t, t.TempDir())
	joinWith(t, j1, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	if f, err := j1.st.Floor(ctx, id); err != nil || f == nil || f.Checkpoint != k.ID {
		t.Fatalf("the first joiner is not floored at the checkpoint: %+v, %v", f, err)
	}
	if err := os.RemoveAll(a.snapDir(id)); err != nil { // a offers none now
		t.Fatal(err)
	}
	tk := inviteFor(t, a, "chat", commit.RoleRead, time.Hour)
	waitFor(t, time.Minute, "the first joiner to hold the invite", func() bool { return viewHash(j1, id) == viewHash(a, id) })

	j2 := openSnapNode(t, t.TempDir())
	if _, err := j2.Connect(ctx, j1.Addrs()[0]+"/p2p/"+j1.PeerID()); err != nil {
		t.Fatal(err)
	}
	joinWith(t, j2, tk)
	if f, err := j2.st.Floor(ctx, id); err != nil || f == nil || f.Checkpoint != k.ID {
		t.Fatalf("the second joiner is not floored at the checkpoint: %+v, %v", f, err)
	}
	waitFor(t, time.Minute, "the second joiner to hold the space", func() bool { return viewHash(j2, id) == viewHash(a, id) })
	for _, n := range []*Node{a, j1, j2} {
		if m := n.Counters().Misbehaving; len(m) != 0 {
			t.Errorf("misbehaviour counted: %v", m)
		}
	}
}

// TestFailedSnapshotJoinLeavesNothing: a join that installed a
// checkpoint's snapshot and then fails (the invite expired) leaves no
// space and no snapshot behind. (An invite revoked after the checkpoint
// would not do: a floored store does not apply a revocation after its
// floor yet, it marks the space NeedsHistory, and the join succeeds there;
// deepening is the plan's step 4.)
func TestFailedSnapshotJoinLeavesNothing(t *testing.T) {
	ctx := ctxT(t)
	a, w, _ := checkpointedChat(t, t.TempDir())
	tk := inviteFor(t, a, "chat", commit.RoleWrite, time.Second)
	expired := time.Now().Add(2 * time.Second)
	waitFor(t, 10*time.Second, "the invite to expire", func() bool { return time.Now().After(expired) })
	j := openSnapNode(t, t.TempDir())
	if _, err := j.Join(ctx, tk); !errors.Is(err, ErrInviteVoid) {
		t.Fatalf("join with an expired invite: %v", err)
	}
	holdsNothing(t, j)
	if _, err := os.Stat(j.snapDir(w.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the snapshot the failed join installed is still there: %v", err)
	}
}

// TestRevocationAfterFloorDeepens: a revocation made after the
// checkpoint a joiner installed cannot be decided from the history it
// holds: its store marks the space NeedsHistory, and the joiner deepens
// by itself (deepen.go): it fetches the history below the checkpoint from
// a full replica, ends its floor and decides the space again, and ends
// with the full replicas' view, heads, voided commits and log check (the
// revoked writer's commits above its cut void there too).
func TestRevocationAfterFloorDeepens(t *testing.T) {
	ctx := ctxT(t)
	a, b, w := chatWithWriter(t)
	id := w.ID()
	put(t, b, id, "x/before", "kept")
	waitFor(t, time.Minute, "b's write to reach a", func() bool { return viewHash(a, id) == viewHash(b, id) })
	checkpoint(t, a)
	j := openSnapNode(t, t.TempDir())
	joinWith(t, j, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	if f, err := j.st.Floor(ctx, id); err != nil || f == nil || f.NeedsHistory {
		t.Fatalf("after the join: floor %+v, %v; want floored, not needing history", f, err)
	}
	cut := headOf(t, a, id, b.Author()).Seq
	put(t, b, id, "x/after", "void")
	all := []*Node{a, b, j}
	waitFor(t, time.Minute, "b's later write to reach everyone", func() bool { return holdKeys(all, id, "x/after") })
	revokeAt(t, a, id, b.Author(), cut)

	waitFor(t, time.Minute, "the joiner to deepen and void b's write above the cut", func() bool {
		f, err := j.st.Floor(ctx, id)
		if err != nil || f != nil {
			return false
		}
		_, err = j.st.Get(ctx, id, []byte("x/after"))
		return errors.Is(err, store.ErrNotFound) && converged(all, id)
	})
	sameAsFull(t, a, j, id)
	if e, err := j.st.Get(ctx, id, []byte("x/before")); err != nil || string(e.Value) != "kept" {
		t.Errorf("b's write up to the cut: %+v, %v", e, err)
	}
	if m := misbehaving(all); m != 0 {
		t.Errorf("%d misbehaviours counted", m)
	}
}

// headOf returns au's head in n's copy of space id.
func headOf(t *testing.T, n *Node, id keys.SpaceID, au keys.AuthorID) store.Head {
	t.Helper()
	heads, err := n.st.Heads(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		if h.Author == au {
			return h
		}
	}
	t.Fatalf("%s does not know %s", n.Author().Short(), au.Short())
	return store.Head{}
}

// revokeAt has n revoke au in space id with cut: au's commits above it
// no longer count.
func revokeAt(t *testing.T, n *Node, id keys.SpaceID, au keys.AuthorID, cut uint64) {
	t.Helper()
	sp, err := n.openSpace(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Commit(ctxT(t), []commit.Op{commit.RevokeOp(commit.Revoke{Author: au, LastSeq: cut})}); err != nil {
		t.Fatal(err)
	}
}

// sameAsFull checks that j, a deepened replica, holds space id as the
// full replica a does: heads, view, voided commits and the log check.
func sameAsFull(t *testing.T, a, j *Node, id keys.SpaceID) {
	t.Helper()
	ctx := ctxT(t)
	if viewHash(j, id) != viewHash(a, id) {
		t.Errorf("view and heads differ:\n%s\n%s", viewHash(j, id), viewHash(a, id))
	}
	va, err := a.st.Voided(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	vj, err := j.st.Voided(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(va) == 0 || fmt.Sprint(va) != fmt.Sprint(vj) {
		t.Errorf("voided commits differ: full %v, deepened %v", va, vj)
	}
	ra, erra := space.VerifyLog(ctx, a.st, id)
	rj, errj := space.VerifyLog(ctx, j.st, id)
	if erra != nil || errj != nil || ra != rj {
		t.Errorf("log check: full %+v, %v; deepened %+v, %v", ra, erra, rj, errj)
	}
}

// chatWithWriter opens admin a and writer b of space "chat", in which a
// wrote 300 messages and deleted and erased the first 270.
func chatWithWriter(t *testing.T) (a, b *Node, w *space.Space) {
	t.Helper()
	a = openSnapNode(t, t.TempDir())
	b = openSnapNode(t, t.TempDir())
	w = newSpace(t, a, "chat")
	joinAs(t, a, b, "chat", commit.RoleWrite, time.Hour)
	erasedChat(t, w, 300, 270)
	return a, b, w
}

// checkpointedChat opens a node at home with space "chat": 300
// messages, the first 270 deleted and erased, and a checkpoint k.
func checkpointedChat(t *testing.T, home string) (a *Node, w *space.Space, k Checkpoint) {
	t.Helper()
	a = openSnapNode(t, home)
	w = newSpace(t, a, "chat")
	erasedChat(t, w, 300, 270)
	return a, w, checkpoint(t, a)
}

// checkpoint has n make a checkpoint of space "chat".
func checkpoint(t *testing.T, n *Node) Checkpoint {
	t.Helper()
	k, err := n.Checkpoint(ctxT(t), "chat")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openSnapNode is openNode: as a fresh joiner of a public space it asks
// for a checkpoint's snapshot first (the default).
func openSnapNode(t *testing.T, home string) *Node {
	t.Helper()
	return openNode(t, home)
}

// TestSnapshotJoinDefault: by default a fresh joiner of a checkpointed
// public space installs the checkpoint's snapshot (it is floored, and
// deepens when it must: TestRevocationAfterFloorDeepens); with
// Options.FullJoin it syncs the whole history.
func TestSnapshotJoinDefault(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	w := newSpace(t, a, "chat")
	erasedChat(t, w, 30, 20)
	k := checkpoint(t, a)
	j := openNode(t, t.TempDir())
	joinWith(t, j, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	if f, err := j.st.Floor(ctx, w.ID()); err != nil || f == nil || f.Checkpoint != k.ID {
		t.Fatalf("a default joiner is not floored at the checkpoint: %+v, %v", f, err)
	}
	full := openWith(t, Options{Home: t.TempDir(), Listen: loopback, NoSync: true, FullJoin: true})
	joinWith(t, full, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	waitFor(t, time.Minute, "the joiners to hold the space", func() bool { return converged([]*Node{a, j, full}, w.ID()) })
	if f, err := full.st.Floor(ctx, w.ID()); err != nil || f != nil {
		t.Fatalf("a joiner with FullJoin is floored: %+v, %v", f, err)
	}
}

// TestLeaveRemovesSnapshots: leaving a space removes the snapshots of its
// checkpoints this node kept to serve.
func TestLeaveRemovesSnapshots(t *testing.T) {
	ctx := ctxT(t)
	a := openSnapNode(t, t.TempDir())
	w := newSpace(t, a, "chat")
	erasedChat(t, w, 30, 20)
	checkpoint(t, a)
	if _, err := os.Stat(a.snapDir(w.ID())); err != nil {
		t.Fatalf("no snapshot kept after a checkpoint: %v", err)
	}
	if _, err := a.Leave(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.snapDir(w.ID())); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the space's snapshots are still there after leaving it: %v", err)
	}
}
