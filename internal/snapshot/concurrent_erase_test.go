package snapshot_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestConcurrentErasesSameSnapshot: two members erase the same write
// concurrently (its author, and an admin), and a third (another admin)
// names it without having seen it (the stores ignore that target);
// replicas that receive the erases in any order take the same snapshot,
// whose cells section names the first erase that applied: the author's,
// as every store records it (TestConcurrentErasesRecordTheFirst).
func TestConcurrentErasesSameSnapshot(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{21})
	admin, ana, bo := keys.DeviceKeyFromSeed([32]byte{22}), keys.DeviceKeyFromSeed([32]byte{23}), keys.DeviceKeyFromSeed([32]byte{24})
	sp := sk.Space()
	build := builder(t, sp)
	const w = 1_700_000_000_000_000
	g := build(sk, commit.Header{Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: w}},
		commit.GrantOp(commit.Grant{Subject: admin.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: bo.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: ana.Author(), Role: commit.RoleWrite}))
	put := build(ana, commit.Header{Author: ana.Author(), Seq: 1, Time: commit.HLC{Wall: w + 1000}, Deps: []keys.CommitID{g.ID}}, commit.Put([]byte("k"), []byte("v")))
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: ana.Author(), Seq: 1, ID: put.ID, Key: []byte("k")}}})
	if err != nil {
		t.Fatal(err)
	}
	byAna := build(ana, commit.Header{Author: ana.Author(), Seq: 2, Prev: put.ID, Time: commit.HLC{Wall: w + 2000}}, er)
	byAdmin := build(admin, commit.Header{Author: admin.Author(), Seq: 1, Time: commit.HLC{Wall: w + 3000}, Deps: []keys.CommitID{put.ID}}, er)
	blind := build(bo, commit.Header{Author: bo.Author(), Seq: 1, Time: commit.HLC{Wall: w + 1500}, Deps: []keys.CommitID{g.ID}}, er)
	var snaps []*snapshot.Snapshot
	for _, order := range [][]*commit.Commit{{put, byAna, byAdmin, blind}, {put, byAdmin, byAna, blind}, {blind, put, byAdmin, byAna}} {
		st := storetest.TempSpace(t, g)
		for _, c := range order {
			if _, err := st.Apply(ctx, sp, []*commit.Commit{c}); err != nil {
				t.Fatal(err)
			}
		}
		if e, _, _ := st.Erasure(ctx, sp, ana.Author(), 1, 0); e.By != ana.Author() || e.Seq != 2 {
			t.Errorf("the store records the erase by %s seq %d, want ana's seq 2", e.By.Short(), e.Seq)
		}
		s, err := snapshot.FromStore(ctx, st, sp)
		if err != nil {
			t.Fatal(err)
		}
		again, err := snapshot.Build(ctx, st, sp, s.Checkpoint.Frontier)
		if err != nil {
			t.Fatal(err)
		}
		if again.Checkpoint.Cells != s.Checkpoint.Cells {
			t.Error("the replay's cells differ from the store's")
		}
		snaps = append(snaps, s)
	}
	for i, s := range snaps {
		if s.Checkpoint.Cells != snaps[0].Checkpoint.Cells {
			t.Errorf("replica %d's cells section differs from replica 0's:\n%x\n%x", i, s.Sections.Cells, snaps[0].Sections.Cells)
		}
	}
	cells, err := snapshot.DecodeCells(snaps[0].Sections.Cells, snaps[0].Checkpoint.Frontier)
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 1 || !cells[0].Entries[0].Erased || cells[0].Entries[0].Erasure.By != ana.Author() || cells[0].Entries[0].Erasure.Seq != 2 {
		t.Fatalf("the section says %+v, want k erased by ana's seq 2", cells)
	}
}

// TestBuildDecidesNamedWritesAsItsSource: a write that breaks an app's
// value rule counts once an erase names it, even one that does not count:
// bo, an admin, erases ana's write while the admin revokes him, and the
// store that got the revocation first keeps the payload. Build at a
// frontier before both decides the write as its source does; it counted
// it invalid before (the replay checked the value it was given).
func TestBuildDecidesNamedWritesAsItsSource(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{31})
	admin, ana, bo := keys.DeviceKeyFromSeed([32]byte{34}), keys.DeviceKeyFromSeed([32]byte{32}), keys.DeviceKeyFromSeed([32]byte{33})
	sp := sk.Space()
	build := builder(t, sp)
	const w = 1_700_000_000_000_000
	strict := `{"prefix":"chat/","rules":[{"key":"chat/msg/{id}","write":"anyone","value":{"type":"object"}}]}`
	g := build(sk, commit.Header{Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: w}},
		commit.GrantOp(commit.Grant{Subject: admin.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: bo.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: ana.Author(), Role: commit.RoleWrite}))
	rules := build(admin, commit.Header{Author: admin.Author(), Seq: 1, Time: commit.HLC{Wall: w + 500}, Deps: []keys.CommitID{g.ID}},
		commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(strict)}))
	put := build(ana, commit.Header{Author: ana.Author(), Seq: 1, Time: commit.HLC{Wall: w + 1000}, Deps: []keys.CommitID{rules.ID}}, commit.Put([]byte("chat/msg/1"), []byte(`"not an object"`)))
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: ana.Author(), Seq: 1, ID: put.ID, Key: []byte("chat/msg/1")}}})
	if err != nil {
		t.Fatal(err)
	}
	byBo := build(bo, commit.Header{Author: bo.Author(), Seq: 1, Time: commit.HLC{Wall: w + 2000}, Deps: []keys.CommitID{put.ID}}, er)
	rev := build(admin, commit.Header{Author: admin.Author(), Seq: 2, Prev: rules.ID, Time: commit.HLC{Wall: w + 1500}},
		commit.RevokeOp(commit.Revoke{Author: bo.Author(), LastSeq: 0}))
	st := storetest.TempSpace(t, g)
	for _, c := range []*commit.Commit{rules, put, rev, byBo} {
		if _, err := st.Apply(ctx, sp, []*commit.Commit{c}); err != nil {
			t.Fatal(err)
		}
	}
	voided, err := st.Voided(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if why, bad := voided[acl.Loc{Author: ana.Author(), Seq: 1}]; bad {
		t.Fatalf("the store does not count ana's write: %s", why)
	}
	if _, bad := voided[acl.Loc{Author: bo.Author(), Seq: 1}]; !bad {
		t.Fatal("the store counts bo's erase")
	}
	f := []commit.FrontierHead{
		{Author: sk.Author(), Seq: 1, ID: g.ID, Time: g.Time},
		{Author: admin.Author(), Seq: 1, ID: rules.ID, Time: rules.Time},
		{Author: ana.Author(), Seq: 1, ID: put.ID, Time: put.Time},
	}
	slices.SortFunc(f, func(a, b commit.FrontierHead) int { return bytes.Compare(a.Author[:], b.Author[:]) })
	s, err := snapshot.Build(ctx, st, sp, f)
	if err != nil {
		t.Fatal(err)
	}
	d, err := snapshot.DecodeACL(s.Sections.ACL)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range d.Invalid {
		t.Errorf("the checkpoint at F does not count %s seq %d; its source does", l.Author.Short(), l.Seq)
	}
}
