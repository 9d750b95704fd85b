package node

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/store"
)

// TestDeepenFromFlooredPeerWaits: a floored node asked to deepen while
// its only peer is floored too gets nothing (a floored peer cannot send
// the history below its floor), and Deepen says so when its context
// ends; once a full replica is connected, the same call completes from
// it and the node holds the space as the full replica does.
func TestDeepenFromFlooredPeerWaits(t *testing.T) {
	ctx := ctxT(t)
	aHome := t.TempDir()
	a, w, _ := checkpointedChat(t, aHome)
	id := w.ID()
	j1 := openSnapNode(t, t.TempDir())
	joinWith(t, j1, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	j2 := openSnapNode(t, t.TempDir())
	joinWith(t, j2, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	for _, j := range []*Node{j1, j2} {
		if f, err := j.st.Floor(ctx, id); err != nil || f == nil {
			t.Fatalf("a joiner is not floored: %+v, %v", f, err)
		}
	}
	waitFor(t, time.Minute, "the joiners to hold the space", func() bool { return converged([]*Node{a, j1, j2}, id) })
	a.Close()
	if _, err := j2.Connect(ctx, j1.Addrs()[0]+"/p2p/"+j1.PeerID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "j2 to sync with j1", func() bool { return j2.sessionFor(j1.Author()) != nil })

	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := j2.Deepen(short, "chat")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still missing") {
		t.Fatalf("deepen with only a floored peer: %v, want a timeout that says what is missing", err)
	}
	if f, err := j2.st.Floor(ctx, id); err != nil || f == nil {
		t.Fatalf("j2 lost its floor without the history: %+v, %v", f, err)
	}
	if h, err := j2.History(ctx, "chat"); err != nil || h.Checkpoint.IsZero() || h.Missing == 0 || !h.Fetching {
		t.Errorf("j2's history while waiting: %+v, %v; want its checkpoint, commits missing, fetching", h, err)
	}

	a = openSnapNode(t, aHome)
	if _, err := j2.Connect(ctx, a.Addrs()[0]+"/p2p/"+a.PeerID()); err != nil {
		t.Fatal(err)
	}
	if err := j2.Deepen(ctx, "chat"); err != nil {
		t.Fatalf("deepen with a full replica connected: %v", err)
	}
	if f, err := j2.st.Floor(ctx, id); err != nil || f != nil {
		t.Fatalf("j2 is still floored after deepening: %+v, %v", f, err)
	}
	if viewHash(j2, id) != viewHash(a, id) {
		t.Errorf("after deepening: %s, the full replica %s", viewHash(j2, id), viewHash(a, id))
	}
	if h, err := j2.History(ctx, "chat"); err != nil || h != (History{}) {
		t.Errorf("j2's history after deepening: %+v, %v; want the whole history held", h, err)
	}
	if m := misbehaving([]*Node{a, j1, j2}); m != 0 {
		t.Errorf("%d misbehaviours counted", m)
	}
}

// TestDeepenResumesOnReopen: a node closed while deepening (its store
// holds part of the history below its floor and the NeedsHistory mark)
// takes the deepening up again when it opens, and ends as the full
// replicas do.
func TestDeepenResumesOnReopen(t *testing.T) {
	ctx := ctxT(t)
	a, b, w := chatWithWriter(t)
	id := w.ID()
	checkpoint(t, a)
	jHome := t.TempDir()
	j := openSnapNode(t, jHome)
	joinWith(t, j, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	cut := headOf(t, a, id, b.Author()).Seq
	put(t, b, id, "x/after", "void")
	waitFor(t, time.Minute, "b's write to reach everyone", func() bool { return holdKeys([]*Node{a, b, j}, id, "x/after") })
	j.Close()
	revokeAt(t, a, id, b.Author(), cut)

	// What a deepening closed mid-way leaves: the first 100 commits of
	// a's chain filled below the floor, and the revocation that asked
	// for the history (the space marked NeedsHistory).
	var first []*commit.Commit
	var revocation *commit.Commit
	last := headOf(t, a, id, a.Author()).Seq
	for _, c := range storedCommits(t, a, id) {
		if c.Author == a.Author() && c.Seq <= 100 {
			first = append(first, c)
		}
		if c.Author == a.Author() && c.Seq == last {
			revocation = c
		}
	}
	st, err := store.Open(filepath.Join(jHome, "store"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Apply(ctx, id, first)
	if err != nil {
		t.Fatal(err)
	}
	filled := 0
	for _, o := range res.Outcomes {
		if o.Status == store.Filled {
			filled++
		}
	}
	if filled == 0 {
		t.Fatalf("no commit filled below the floor: %v", res.Outcomes)
	}
	if _, err := st.Apply(ctx, id, []*commit.Commit{revocation}); err != nil {
		t.Fatal(err)
	}
	f, err := st.Floor(ctx, id)
	if err != nil || f == nil || !f.NeedsHistory {
		t.Fatalf("the store is not marked NeedsHistory: %+v, %v", f, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	j = openSnapNode(t, jHome)
	if _, err := j.Connect(ctx, a.Addrs()[0]+"/p2p/"+a.PeerID()); err != nil {
		t.Fatal(err)
	}
	all := []*Node{a, b, j}
	waitFor(t, time.Minute, "the reopened joiner to deepen", func() bool {
		f, err := j.st.Floor(ctx, id)
		return err == nil && f == nil && converged(all, id)
	})
	sameAsFull(t, a, j, id)
	if _, err := j.st.Get(ctx, id, []byte("x/after")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("b's write above the cut after deepening: %v", err)
	}
}

// TestDeepenFetchesWithheldTail: a writer revoked with a cut before the
// checkpoint has a voided tail below the floor, which a full replica
// never sends unasked (it is withheld): the deepening node asks for it by
// ID once the stream stalls, and ends as the full replica.
func TestDeepenFetchesWithheldTail(t *testing.T) {
	ctx := ctxT(t)
	a, b, w := chatWithWriter(t)
	id := w.ID()
	put(t, b, id, "x/before", "kept")
	waitFor(t, time.Minute, "b's write to reach a", func() bool { return holdKeys([]*Node{a}, id, "x/before") })
	cut := headOf(t, a, id, b.Author()).Seq
	put(t, b, id, "x/void", "1")
	put(t, b, id, "x/void", "2")
	waitFor(t, time.Minute, "b's later writes to reach a", func() bool { return headOf(t, a, id, b.Author()).Seq == cut+2 })
	b.Close()
	revokeAt(t, a, id, b.Author(), cut)
	checkpoint(t, a)
	j := openSnapNode(t, t.TempDir())
	joinWith(t, j, inviteFor(t, a, "chat", commit.RoleRead, time.Hour))
	if f, err := j.st.Floor(ctx, id); err != nil || f == nil {
		t.Fatalf("the joiner is not floored: %+v, %v", f, err)
	}
	if _, err := j.st.CommitByID(ctx, id, headOf(t, a, id, b.Author()).ID); err == nil {
		t.Fatal("the joiner holds b's voided head already: nothing to fetch")
	}
	if err := j.Deepen(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	if f, err := j.st.Floor(ctx, id); err != nil || f != nil {
		t.Fatalf("still floored: %+v, %v", f, err)
	}
	sameAsFull(t, a, j, id)
	if m := misbehaving([]*Node{a, j}); m != 0 {
		t.Errorf("%d misbehaviours counted", m)
	}
}

// TestJoinRevokedInviteAfterCheckpoint: an invite revoked after the
// checkpoint does not admit a joiner that installs the checkpoint's
// snapshot, as it admits none that syncs in full: the join fails with
// ErrInviteVoid and leaves nothing.
func TestJoinRevokedInviteAfterCheckpoint(t *testing.T) {
	ctx := ctxT(t)
	a, _, _ := checkpointedChat(t, t.TempDir())
	tk := inviteFor(t, a, "chat", commit.RoleWrite, time.Hour)
	if _, err := a.Revoke(ctx, "chat", tk.String()); err != nil {
		t.Fatal(err)
	}
	j := openSnapNode(t, t.TempDir())
	if _, err := j.Join(ctx, tk); !errors.Is(err, ErrInviteVoid) {
		t.Fatalf("join with an invite revoked after the checkpoint: %v, want ErrInviteVoid", err)
	}
	holdsNothing(t, j)
}
