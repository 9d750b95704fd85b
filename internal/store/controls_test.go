package store_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestControls: over GenACL histories stored in chunks, Controls lists
// every commit that grants, joins, certifies or revokes, and no other,
// with whether it counts as acl.Evaluate over the history decides, and
// the cuts; a space without the marker that its revoking commits are all
// listed (stored before those rows) is reported incomplete.
func TestControls(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, seed^0xc0de))
		h := storetest.GenACL(r, storetest.Gen{Authors: 3 + r.IntN(3), Ops: 60 + r.IntN(120), Keys: 6, MaxBatch: 3})
		sp := h.Space()
		dir := t.TempDir()
		st, err := store.Open(dir, store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddSpace(ctx, "s", sp); err != nil {
			t.Fatal(err)
		}
		for cs := h.Commits; len(cs) > 0; {
			n := min(len(cs), 1+r.IntN(8))
			if _, err := st.Apply(ctx, sp, cs[:n]); err != nil {
				t.Fatal(err)
			}
			cs = cs[n:]
		}
		_, d := h.ExpectDecided()
		ctl, complete, err := st.Controls(ctx, sp)
		if err != nil || !complete {
			t.Fatalf("seed %d: complete %v, %v", seed, complete, err)
		}
		listed := map[acl.Loc]store.Control{}
		for _, c := range ctl.Commits {
			listed[c.Loc] = c
		}
		for _, c := range h.Commits {
			l := acl.Loc{Author: c.Author, Seq: c.Seq}
			got, ok := listed[l]
			if want := grantsOrRevokes(c); ok != want {
				t.Fatalf("seed %d: %s listed %v, want %v", seed, c, ok, want)
			}
			if !ok {
				continue
			}
			if got.C == nil || got.C.ID != c.ID {
				t.Fatalf("seed %d: %s listed as %v", seed, c, got.C)
			}
			if got.Counts != d.Valid(c.Author, c.Seq) {
				t.Fatalf("seed %d: %s counts %v, Evaluate says %v", seed, c, got.Counts, d.Valid(c.Author, c.Seq))
			}
		}
		if len(ctl.Cuts) != len(d.Cuts) {
			t.Fatalf("seed %d: cuts %v, Evaluate's %v", seed, ctl.Cuts, d.Cuts)
		}
		for a, cut := range d.Cuts {
			if got, ok := ctl.Cuts[a]; !ok || got != cut {
				t.Fatalf("seed %d: cuts %v, Evaluate's %v", seed, ctl.Cuts, d.Cuts)
			}
		}
		if err := store.DropRevokingMarker(st, sp); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if st, err = store.Open(dir, store.Options{NoSync: true}); err != nil {
			t.Fatal(err)
		}
		if _, complete, err := st.Controls(ctx, sp); err != nil || complete {
			t.Fatalf("seed %d: without the marker: complete %v, %v", seed, complete, err)
		}
		st.Close()
	}
}

// grantsOrRevokes reports whether c has an op that grants (to a device or
// a person, or joins), certifies a device or revokes.
func grantsOrRevokes(c *commit.Commit) bool {
	for _, o := range c.Ops {
		switch o.Kind {
		case commit.KindGrant, commit.KindCert, commit.KindRevoke, commit.KindDevRevoke, commit.KindRevokePerson:
			return true
		}
	}
	return false
}
