package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/testkit"
)

// chatKey and chatMessage are the chat workload of internal/space
// BenchmarkChatJoinBytes: one message per commit, as the web UI writes
// them.
func chatKey(i int) []byte {
	return fmt.Appendf(nil, "chat/msg/general/%013d-aut_khp2mywxf6drfaigycijh4z7lydq4q67k4u2yvbqpduiexqvmnrq", 1_700_000_000_000+i)
}

func chatMessage(i int) []byte {
	return fmt.Appendf(nil, `{"text":"Message %d: see you at the garden on Saturday, I'll bring the spare spade"}`, i)
}

// writeChat writes n messages to w, then deletes the first gone.
func writeChat(tb testing.TB, w *space.Space, n, gone int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		if _, err := w.Commit(ctx, []commit.Op{commit.Put(chatKey(i), chatMessage(i))}); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range gone {
		if _, err := w.Commit(ctx, []commit.Op{commit.Del(chatKey(i))}); err != nil {
			tb.Fatal(err)
		}
	}
}

// eraseChat erases the first gone messages of writeChat, one erase each.
func eraseChat(tb testing.TB, w *space.Space, gone int) {
	tb.Helper()
	for i := range gone {
		if _, err := w.Erase(context.Background(), chatKey(i), false); err != nil {
			tb.Fatal(err)
		}
	}
}

// erasedChat writes n messages to w, then deletes the first gone and
// erases them (writeChat, then eraseChat).
func erasedChat(tb testing.TB, w *space.Space, n, gone int) {
	tb.Helper()
	writeChat(tb, w, n, gone)
	eraseChat(tb, w, gone)
}

// bytesIn is what n received from every peer, on every stream (sync,
// snapshot, blobs).
func bytesIn(n *Node) (total uint64) {
	for _, p := range n.host.Peers() {
		total += p.BytesIn
	}
	return total
}

// joinChat joins a fresh node in home to a's space "chat" as a reader,
// waits until its view is a's, and returns it with the bytes it received.
func joinChat(t *testing.T, a *Node, id keys.SpaceID, home string, wait time.Duration) (*Node, uint64) {
	t.Helper()
	j := openSnapNode(t, home)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tk, err := a.Invite(ctx, "chat", commit.RoleRead, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Join(ctx, tk); err != nil {
		reportNodes(t, id, a, j)
		t.Fatal(err)
	}
	waitReporting(t, wait, "the joiner to reach the space's view", func() bool {
		return viewHash(j, id) == viewHash(a, id)
	}, id, a, j)
	return j, bytesIn(j)
}

// waitReporting is waitFor that, when d runs out, first logs what each
// of nodes holds of space id and its peers: a stalled sync or join says
// where it stalled.
func waitReporting(t *testing.T, d time.Duration, what string, cond func() bool, id keys.SpaceID, nodes ...*Node) {
	t.Helper()
	if !testkit.Poll(d, 5*time.Millisecond, cond) {
		reportNodes(t, id, nodes...)
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// reportNodes logs what each of nodes holds of space id, its floor, its
// peers and its counters.
func reportNodes(t *testing.T, id keys.SpaceID, nodes ...*Node) {
	t.Helper()
	ctx := context.Background()
	for i, n := range nodes {
		f, ferr := n.st.Floor(ctx, id)
		t.Logf("node %d (%s): view %s; floor %+v %v; peers %+v; counters %+v", i, n.Author().Short(), viewHash(n, id), f, ferr, n.Peers(), n.Counters())
	}
}

// TestChatJoinSkipsDeadHistory is issue 14's must-show over loopback: a
// chat space of n messages of which nine tenths are deleted and then
// erased, held by two nodes; after an admin's checkpoint, a fresh joiner
// receives (on all its streams, sync and snapshot) at most 20% of the
// bytes a fresh joiner received from the deleted-only space before the
// erasure, and its view equals the others'. It runs at a twentieth of
// the must-show's size; LOAM_FULL_FIGURE=1 runs the full one (100,000
// messages, 90,000 deleted and erased: minutes), whose figure is in
// docs/benchmarks.md:
//
//	LOAM_FULL_FIGURE=1 go test -count=1 -v -timeout 60m -run TestChatJoinSkipsDeadHistory ./internal/node
func TestChatJoinSkipsDeadHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 14,000 commits")
	}
	n := 5_000
	if os.Getenv("LOAM_FULL_FIGURE") == "1" {
		n = 100_000
	}
	full, snap := chatJoinFigure(t, t.TempDir(), n, n*9/10)
	t.Logf("a full join of the deleted-only space received %d B; a join from the checkpoint %d B (%.1f%%)", full, snap, 100*float64(snap)/float64(full))
	if 5*snap > full {
		t.Errorf("the join from the checkpoint received %d bytes, over 20%% of the %d of a full join", snap, full)
	}
}

// chatJoinFigure runs the must-show's scenario in dir with n messages, gone
// deleted and erased, and returns the bytes a full join of the
// deleted-only space received and those of a join from a checkpoint
// after the erasure; it fails if the second did not install a snapshot
// or its view is not the others'.
func chatJoinFigure(t *testing.T, dir string, n, gone int) (full, snap uint64) {
	ctx := context.Background()
	// Each wait is sized for the workload: minutes for the full figure,
	// three for the test's twentieth, so that a stalled sync or join
	// fails here, saying where, and not at the package's timeout.
	wait := 3 * time.Minute
	if n > 5_000 {
		wait = 30 * time.Minute
	}
	start := time.Now()
	phase := func(what string) {
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
		start = time.Now()
	}
	a := openSnapNode(t, filepath.Join(dir, "a"))
	b := openSnapNode(t, filepath.Join(dir, "b"))
	w := newSpace(t, a, "chat")
	id := w.ID()
	joinAs(t, a, b, "chat", commit.RoleWrite, time.Hour)
	writeChat(t, w, n, gone)
	phase("written")
	waitReporting(t, wait, "b to hold the chat", func() bool { return viewHash(b, id) == viewHash(a, id) }, id, a, b)
	phase("synced to b")

	j0, full := joinChat(t, a, id, filepath.Join(dir, "full"), wait)
	if f, err := j0.st.Floor(ctx, id); err != nil || f != nil {
		t.Fatalf("the full joiner is floored (%v, %v): no checkpoint was made yet", f, err)
	}
	j0.Close()
	phase("full join")

	eraseChat(t, w, gone)
	phase("erased")
	k, err := a.Checkpoint(ctx, "chat")
	if err != nil {
		t.Fatal(err)
	}
	phase("checkpoint made")
	waitReporting(t, wait, "b to hold the erasures and the checkpoint", func() bool { return viewHash(b, id) == viewHash(a, id) }, id, a, b)
	phase("synced to b")

	j1, snap := joinChat(t, a, id, filepath.Join(dir, "snap"), wait)
	phase("join from the checkpoint")
	f, err := j1.st.Floor(ctx, id)
	if err != nil || f == nil || f.Checkpoint != k.ID {
		t.Fatalf("the joiner is not floored at the checkpoint %s: %+v, %v", k.ID.Short(), f, err)
	}
	waitReporting(t, time.Minute, "all three to hold one view", func() bool {
		h := viewHash(a, id)
		return viewHash(b, id) == h && viewHash(j1, id) == h
	}, id, a, b, j1)
	for _, n := range []*Node{a, b, j1} {
		if m := n.Counters().Misbehaving; len(m) != 0 {
			t.Errorf("misbehaviour counted: %v", m)
		}
	}
	return full, snap
}
