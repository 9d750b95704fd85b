package space_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// TestPropertyRosterInstalled (#16): a replica that joined from a
// snapshot (snapshot.Install: a floored store, holding below its frontier
// the kept commits only, every control commit among them) lists the
// roster the full replica lists, from its rows (store.Controls finds the
// revoking commits below the frontier among the commits it holds): at
// the install, and after each later chunk of data commits delivered to
// both while the floored replica stores what the full one does (no commit
// waits for the history below its floor, and its floor does not need it
// to decide). A control op after the floor is step 4 of
// docs/plans/checkpoints.md: there a floored replica may decide otherwise
// (a write-once rule declared after the floor voids a write on the full
// replica only), and the comparison stops.
func TestPropertyRosterInstalled(t *testing.T) {
	var compared int
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		h, r := drawRosterHistory(rt)
		sp := h.Space()
		open := func() *store.Store {
			st, err := store.Open(checkDir(rt), store.Options{NoSync: true})
			if err != nil {
				rt.Fatal(err)
			}
			return st
		}
		full, floored := open(), open()
		defer full.Close()
		defer floored.Close()
		if err := full.AddSpace(ctx, "s", sp); err != nil {
			rt.Fatal(err)
		}
		at := rapid.IntRange(1, len(h.Commits)).Draw(rt, "snapshot at")
		deliver := func(st *store.Store, cs []*commit.Commit) {
			if _, err := st.Apply(ctx, sp, cs); err != nil {
				rt.Fatal(err)
			}
		}
		for cs := h.Commits[:at]; len(cs) > 0; {
			n := min(len(cs), 1+r.IntN(12))
			deliver(full, cs[:n])
			cs = cs[n:]
		}
		snap, err := snapshot.FromStore(ctx, full, sp)
		if err != nil {
			rt.Fatal(err)
		}
		if err := snapshot.Install(ctx, floored, sp, "s", keys.CommitID{}, snap.Checkpoint, snap.Sections, snap.Kept); err != nil {
			rt.Fatal(err)
		}
		same := func(when string) bool {
			if f, err := floored.Floor(ctx, sp); err != nil || f == nil || f.NeedsHistory {
				return false // decided again: only the history below the floor can
			}
			a, err := full.Heads(ctx, sp)
			if err != nil {
				rt.Fatal(err)
			}
			b, err := floored.Heads(ctx, sp)
			if err != nil {
				rt.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				return false // a commit waits for the history below the floor
			}
			if _, complete, err := floored.Controls(ctx, sp); err != nil || !complete {
				rt.Fatalf("%s: the floored store does not list its control commits (%v)", when, err)
			}
			want, wantPeople, err := space.Roster(ctx, full, sp)
			if err != nil {
				rt.Fatal(err)
			}
			got, gotPeople, err := space.Roster(ctx, floored, sp)
			if err != nil {
				rt.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotPeople, wantPeople) {
				rt.Fatalf("%s, floored:\n%s\nfull:\n%s", when, rosterText(got, gotPeople), rosterText(want, wantPeople))
			}
			compared++
			return true
		}
		if !same("at the install") {
			rt.Fatal("the floored store needs the history at the install")
		}
		for cs := h.Commits[at:]; len(cs) > 0; {
			n := min(len(cs), 1+r.IntN(12))
			if slices.ContainsFunc(cs[:n], func(c *commit.Commit) bool { return !acl.DataOnly(c) }) {
				break // a control op after the floor: step 4 of docs/plans/checkpoints.md
			}
			deliver(full, cs[:n])
			deliver(floored, cs[:n])
			cs = cs[n:]
			if !same("after a chunk") {
				break
			}
		}
	})
	t.Logf("%d rosters compared", compared)
}
