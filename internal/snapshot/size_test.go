package snapshot_test

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
)

// chatSizes is what a fresh joiner of the chat benchmark's space
// (internal/space BenchmarkChatJoinBytes: n messages by one writer, the
// first gone of them deleted, then each erased by its own erase op)
// receives today and with a checkpoint at the end.
type chatSizes struct {
	plain     int64 // every commit before the erases: today's join without erasure (the must-show's 100%)
	erased    int64 // every commit after the erases: today's join
	sections  snapshot.Sections
	kept      int64 // the kept commits' bytes
	cellsZip  int   // the cells section deflated (an estimate of compressing it on the wire)
	commits   int
	keptCount int
	install   time.Duration // snapshot.Install into an empty store
}

func (c chatSizes) total() int64 { return int64(c.sections.Size()) + c.kept }

// chatJoin builds the chat space in a store in dir and takes its
// snapshot at the heads (FromStore: the maker's shortcut), and with
// replay set also Build's, checking they agree.
func chatJoin(tb testing.TB, dir string, n, gone int, replay bool) chatSizes {
	ctx := context.Background()
	st, sp, sizes := chatStore(tb, dir, n, gone)
	defer st.Close()
	snap, err := snapshot.FromStore(ctx, st, sp)
	if err != nil {
		tb.Fatal(err)
	}
	if replay {
		again, err := snapshot.Build(ctx, st, sp, snap.Checkpoint.Frontier)
		if err != nil {
			tb.Fatal(err)
		}
		if again.Checkpoint.Cells != snap.Checkpoint.Cells || again.Checkpoint.View != snap.Checkpoint.View {
			tb.Fatal("the replay's snapshot differs from the store's")
		}
	}
	// A joiner installs it: its view is the space's.
	joiner, err := store.Open(tb.TempDir(), store.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer joiner.Close()
	start := time.Now()
	if err := snapshot.Install(ctx, joiner, sp, "chat", keys.CommitID{}, snap.Checkpoint, snap.Sections, snap.Kept); err != nil {
		tb.Fatal(err)
	}
	sizes.install = time.Since(start)
	want, err := st.View(ctx, sp)
	if err != nil {
		tb.Fatal(err)
	}
	got, err := joiner.View(ctx, sp)
	if err != nil {
		tb.Fatal(err)
	}
	if got.Hash != want.Hash || got.Visible != want.Visible {
		tb.Fatalf("the joiner's view is %s with %d keys, the space's %s with %d", got.Hash, got.Visible, want.Hash, want.Visible)
	}

	sizes.sections = snap.Sections
	for _, c := range snap.Kept {
		sizes.kept += int64(len(c.Bytes()))
	}
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression)
	zw.Write(snap.Sections.Cells)
	zw.Close()
	sizes.cellsZip = z.Len()
	sizes.commits, sizes.keptCount = int(snap.Checkpoint.Stats.Commits), len(snap.Kept)
	return sizes
}

// chatStore opens a store in dir holding the chat space: n messages by
// one writer, the first gone of them deleted, then each of those erased by
// its own erase op. sizes has the commits' bytes before and after the
// erases.
func chatStore(tb testing.TB, dir string, n, gone int) (*store.Store, keys.SpaceID, chatSizes) {
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	sk := keys.SpaceKeyFromSeed([32]byte{7})
	dev := keys.DeviceKeyFromSeed([32]byte{8})
	sp := sk.Space()
	wall := uint64(1_700_000_000_000_000)
	genesis, err := commit.Build(commit.Header{Space: sp, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: wall}},
		[]commit.Op{commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: commit.RoleAdmin})}, sk)
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateSpace(ctx, "chat", genesis); err != nil {
		tb.Fatal(err)
	}
	var sizes chatSizes
	var prev *commit.Commit
	var batch []*commit.Commit
	flush := func() {
		res, err := st.Apply(ctx, sp, batch)
		if err != nil {
			tb.Fatal(err)
		}
		for i, o := range res.Outcomes {
			if o.Status != store.Applied {
				tb.Fatalf("%s: %s %v", batch[i], o.Status, o.Err)
			}
		}
		batch = batch[:0]
	}
	next := func(ops ...commit.Op) *commit.Commit {
		wall += 1000
		h := commit.Header{Space: sp, Author: dev.Author(), Seq: 1, Time: commit.HLC{Wall: wall}}
		if prev == nil {
			h.Deps = []keys.CommitID{genesis.ID}
		} else {
			h.Seq, h.Prev = prev.Seq+1, prev.ID
		}
		c, err := commit.Build(h, ops, dev)
		if err != nil {
			tb.Fatal(err)
		}
		prev = c
		if batch = append(batch, c); len(batch) == 1000 {
			flush()
		}
		return c
	}
	key := func(i int) []byte {
		return fmt.Appendf(nil, "chat/msg/general/%013d-aut_khp2mywxf6drfaigycijh4z7lydq4q67k4u2yvbqpduiexqvmnrq", 1_700_000_000_000+i)
	}
	puts := make([]*commit.Commit, n)
	for i := range n {
		msg := fmt.Appendf(nil, `{"text":"Message %d: see you at the garden on Saturday, I'll bring the spare spade"}`, i)
		puts[i] = next(commit.Put(key(i), msg))
	}
	dels := make([]*commit.Commit, gone)
	for i := range gone {
		dels[i] = next(commit.Del(key(i)))
	}
	flush()
	size := func() (total int64) {
		for sc, err := range st.AllCommits(ctx, sp) {
			if err != nil {
				tb.Fatal(err)
			}
			total += int64(len(sc.Bytes))
		}
		return total
	}
	sizes.plain = size()
	for i := range gone { // the message's put and its delete, as space.Erase names them
		target := func(c *commit.Commit) commit.EraseTarget {
			return commit.EraseTarget{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: 0, Key: key(i)}
		}
		op, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{target(puts[i]), target(dels[i])}})
		if err != nil {
			tb.Fatal(err)
		}
		next(op)
	}
	flush()
	sizes.erased = size()
	return st, sp, sizes
}

// TestCheckpointChatJoinSize: in the chat benchmark's space at a tenth of
// its size (10,000 messages, 9,000 deleted and erased), what a joiner
// would receive with a checkpoint (the four sections and the kept
// commits) is at most 20% of what it receives today without erasure,
// the must-show's bound, and the kept commits are the live messages and
// the genesis.
func TestCheckpointChatJoinSize(t *testing.T) {
	s := chatJoin(t, t.TempDir(), 10_000, 9_000, true)
	t.Logf("plain %d B, erased %d B, checkpoint %d B (kept %d B in %d commits, cells %d B (deflated %d), kept IDs %d B, causal %d B, acl %d B): %.1f%% of plain; installed in %v with the same view",
		s.plain, s.erased, s.total(), s.kept, s.keptCount, len(s.sections.Cells), s.cellsZip, len(s.sections.Kept), len(s.sections.Causal), len(s.sections.ACL), 100*float64(s.total())/float64(s.plain), s.install)
	if s.keptCount != 1_000+1 {
		t.Errorf("%d commits kept, want the 1,000 live messages and the genesis", s.keptCount)
	}
	if 5*s.total() > s.plain {
		t.Errorf("a checkpoint's join is %d bytes, over 20%% of %d", s.total(), s.plain)
	}
}

// BenchmarkCheckpointChatJoin reports, for the chat benchmark's space at
// full size (100,000 messages, 90,000 deleted and erased one by one), the
// bytes a fresh joiner would receive with a checkpoint at the end (the
// sections and the kept commits; the offer and C itself are under 1 KiB),
// beside today's (BenchmarkChatJoinBytes: MiB-deleted-only is the
// must-show's 100%).
//
//	go test -run '^$' -bench BenchmarkCheckpointChatJoin -benchtime 1x ./internal/snapshot
func BenchmarkCheckpointChatJoin(b *testing.B) {
	for range b.N {
		s := chatJoin(b, b.TempDir(), 100_000, 90_000, false)
		mib := func(n int64) float64 { return float64(n) / (1 << 20) }
		b.ReportMetric(mib(s.plain), "MiB-deleted-only")
		b.ReportMetric(mib(s.erased), "MiB-erased")
		b.ReportMetric(mib(s.total()), "MiB-checkpoint")
		b.ReportMetric(mib(s.kept), "MiB-kept")
		b.ReportMetric(mib(int64(len(s.sections.Cells))), "MiB-cells")
		b.ReportMetric(mib(int64(s.cellsZip)), "MiB-cells-deflated")
		b.ReportMetric(mib(int64(len(s.sections.Kept)+len(s.sections.Causal)+len(s.sections.ACL))), "MiB-ids+causal+acl")
		b.ReportMetric(float64(s.total())/float64(s.plain), "ratio")
		b.ReportMetric(float64(s.install.Milliseconds()), "ms-install")
	}
}

// BenchmarkBuildReplay measures Build, the replay a verifier runs: S(F)
// of the chat space at a fifth of its size (20,000 messages, 18,000
// deleted and erased: 56,001 commits), per commit.
//
//	go test -run '^$' -bench BenchmarkBuildReplay ./internal/snapshot
func BenchmarkBuildReplay(b *testing.B) {
	ctx := context.Background()
	st, sp, _ := chatStore(b, b.TempDir(), 20_000, 18_000)
	defer st.Close()
	want, err := snapshot.FromStore(ctx, st, sp)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := snapshot.Build(ctx, st, sp, want.Checkpoint.Frontier)
		if err != nil {
			b.Fatal(err)
		}
		if got.Checkpoint.Cells != want.Checkpoint.Cells {
			b.Fatal("the replay differs")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(want.Checkpoint.Stats.Commits), "µs/commit")
}
