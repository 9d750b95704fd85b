package space_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// BenchmarkChatJoinBytes measures issue 14's chat figure: a chat space of
// 100,000 messages (one per commit, as the web UI writes them) of which
// 90,000 are deleted and erased; a fresh joiner receives every stored
// commit, so the bytes it downloads are the stored commits' bytes (sync's
// framing aside). It reports them without erasure (the messages deleted
// only), with the erasures, and the ratio. The checkpoint row erases one
// message at a time, then makes a checkpoint (#14): a fresh joiner then
// receives the checkpoint commit and its snapshot's five parts
// (/loam/snapshot/1, docs/protocol/snapshot.md) and no commit before it;
// MiB-checkpoint is their bytes (framing aside), ratio theirs over
// MiB-deleted-only (the must-show's bound is 0.2). internal/node
// TestChatJoinSkipsDeadHistory measures the same on the wire.
//
//	go test -run='^$' -bench=ChatJoinBytes -benchtime=1x ./internal/space
func BenchmarkChatJoinBytes(b *testing.B) {
	b.Run("checkpoint", func(b *testing.B) {
		for range b.N {
			plain, snap := chatJoinCheckpoint(b, 100_000, 90_000)
			b.ReportMetric(float64(plain)/(1<<20), "MiB-deleted-only")
			b.ReportMetric(float64(snap)/(1<<20), "MiB-checkpoint")
			b.ReportMetric(float64(snap)/float64(plain), "ratio")
		}
	})
	for _, bulk := range []bool{false, true} {
		name := "one-erase-per-message"
		if bulk {
			name = "bulk-erase"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				plain, erased := chatJoinBytes(b, 100_000, 90_000, bulk)
				b.ReportMetric(float64(plain)/(1<<20), "MiB-deleted-only")
				b.ReportMetric(float64(erased)/(1<<20), "MiB-erased")
				b.ReportMetric(float64(erased)/float64(plain), "ratio")
			}
		})
	}
}

func chatJoinBytes(b *testing.B, n, gone int, bulk bool) (plain, erased int64) {
	plain, erased, _ = chatJoin(b, n, gone, bulk, false)
	return plain, erased
}

// chatJoinCheckpoint is chatJoinBytes one erase per message, then a
// checkpoint: it returns the bytes of the deleted-only space and those a
// fresh joiner receives from the checkpoint.
func chatJoinCheckpoint(b *testing.B, n, gone int) (plain, snap int64) {
	plain, _, snap = chatJoin(b, n, gone, false, true)
	return plain, snap
}

func chatJoin(b *testing.B, n, gone int, bulk, checkpoint bool) (plain, erased, snap int64) {
	ctx := context.Background()
	f := newFixture(b, store.Options{NoSync: true})
	_, w := f.writer(b)
	key := func(i int) []byte {
		return fmt.Appendf(nil, "chat/msg/general/%013d-aut_khp2mywxf6drfaigycijh4z7lydq4q67k4u2yvbqpduiexqvmnrq", 1_700_000_000_000+i)
	}
	for i := range n {
		msg := fmt.Appendf(nil, `{"text":"Message %d: see you at the garden on Saturday, I'll bring the spare spade"}`, i)
		if _, err := w.Commit(ctx, []commit.Op{commit.Put(key(i), msg)}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range gone {
		if _, err := w.Commit(ctx, []commit.Op{commit.Del(key(i))}); err != nil {
			b.Fatal(err)
		}
	}
	size := func() (total int64) {
		for sc, err := range f.st.AllCommits(ctx, f.sk.Space()) {
			if err != nil {
				b.Fatal(err)
			}
			total += int64(len(sc.Bytes))
		}
		return total
	}
	plain = size()
	if bulk {
		// A moderator's bulk erase of what was deleted: the writes under
		// the prefix that are no longer live, not the 10,000 live messages.
		if _, err := w.EraseWith(ctx, []byte("chat/msg/general/"), space.EraseOptions{Prefix: true, Superseded: true}); err != nil {
			b.Fatal(err)
		}
	} else {
		for i := range gone {
			if _, err := w.Erase(ctx, key(i), false); err != nil {
				b.Fatal(err)
			}
		}
	}
	erased = size()
	if checkpoint {
		s, err := snapshot.FromStore(ctx, f.st, f.sk.Space())
		if err != nil {
			b.Fatal(err)
		}
		op, err := commit.CheckpointOp(s.Checkpoint)
		if err != nil {
			b.Fatal(err)
		}
		c, err := f.sp.Commit(ctx, []commit.Op{op}) // the fixture's admin
		if err != nil {
			b.Fatal(err)
		}
		snap = int64(len(c.Bytes()) + len(reconcile.EncodeKeptCommits(s.Kept)) + s.Sections.Size())
	}
	return plain, erased, snap
}
