package store_test

import (
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// streamedAndInMemory compares two stores deciding every revocation from
// the whole space: one streaming (the slim commits for acl.Evaluate, the
// view replayed from the store, the old cells compared row by row), the
// other as before it streamed (every commit in memory, the old cells in a
// map).
var streamedAndInMemory = storePair{"streamed", "in memory", func(a, b *store.Store) func() {
	store.SetFullRedecide(a, true)
	store.SetFullRedecide(b, true)
	return store.SetInMemoryRebuild(b)
}}

// TestPropertyStreamedRebuild: random histories with every kind of
// control op (storetest.GenACL), revocations of members, devices and
// people (GenRevokes, GenPeopleRevokes), write-once rules
// (GenOnceRevokes) and clocks that do not follow causality (storetest.GenSkewed),
// delivered in the same random chunks to a store
// rebuilding a space streamed and one rebuilding it in memory: after
// every chunk the same outcomes, changes, view hash, cells, superseded
// writes, invalid rows with their reasons, cuts and revoking rows. Run it
// with -rapid.checks=500 or more.
func TestPropertyStreamedRebuild(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) { checkStreamedRebuild(rt, streamedAndInMemory) })
}

// TestPropertyRebuildInPieces is TestPropertyStreamedRebuild with the
// streamed store committing its rebuilt view in pieces of 1 to 4,096
// bytes (store.SetPieceBytes): every replayed commit, or every few, ends
// a piece, whose cells the next pieces read back from the database while
// the decision and the cells before are read from the snapshot. The runs
// must commit pieces (counted at the store's "piece" point).
func TestPropertyRebuildInPieces(t *testing.T) {
	var pieces atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		size := rapid.SampledFrom([]int{1, 600, 4096}).Draw(rt, "piece")
		checkStreamedRebuild(rt, storePair{"in pieces", "in memory", func(a, b *store.Store) func() {
			undo := streamedAndInMemory.setup(a, b)
			store.SetPieceBytes(a, size)
			store.SetHook(a, func(point string, _ *commit.Commit) error {
				if point == "piece" {
					pieces.Add(1)
				}
				return nil
			})
			return undo
		}})
	})
	if pieces.Load() == 0 {
		t.Fatal("no rebuild committed a piece")
	}
	t.Logf("%d pieces", pieces.Load())
}

func checkStreamedRebuild(rt *rapid.T, pair storePair) {
	switch rapid.IntRange(0, 4).Draw(rt, "kind") {
	case 0:
		h, r := drawSkewed(rt)
		compareRedecideKinds(rt, r, h, pair)
		return
	case 1:
		r, g := drawGen(rt, storetest.Gen{Authors: 2, Ops: 20, Keys: 2, MaxBatch: 1}, storetest.Gen{Authors: 4, Ops: 120, Keys: 6, MaxBatch: 3})
		compareRedecideKinds(rt, r, storetest.GenOnceRevokes(r, g), pair)
		return
	}
	h, r := drawRevokeHistory(rt)
	compareRedecideKinds(rt, r, h, pair)
}
