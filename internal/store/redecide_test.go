package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestRedecideAfterRetention: a member's write W supersedes V, retention
// erases V's payload (its history row goes), then the member is cut below
// W. V must come back (erased) as deciding the whole space brings it back:
// the fast path must see that W superseded something, though V is no
// longer in the history index.
func TestRedecideAfterRetention(t *testing.T) {
	for _, del := range []bool{false, true} {
		ctx := context.Background()
		sk := keys.SpaceKeyFromSeed([32]byte{1})
		sp := sk.Space()
		admin, member := keys.DeviceKeyFromSeed([32]byte{2}), keys.DeviceKeyFromSeed([32]byte{3})
		t0 := uint64(time.Now().Add(-time.Hour).UnixMicro())
		build := func(k keys.DeviceKey, seq uint64, prev keys.CommitID, wall uint64, deps []keys.CommitID, ops ...commit.Op) *commit.Commit {
			t.Helper()
			c, err := commit.Build(commit.Header{Space: sp, Author: k.Author(), Seq: seq, Prev: prev, Time: commit.HLC{Wall: wall}, Deps: deps}, ops, k)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		g, err := commit.Build(commit.Header{Space: sp, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: t0}}, []commit.Op{
			commit.GrantOp(commit.Grant{Subject: admin.Author(), Role: commit.RoleAdmin}),
			commit.GrantOp(commit.Grant{Subject: member.Author(), Role: commit.RoleWrite}),
		}, sk)
		if err != nil {
			t.Fatal(err)
		}
		v := commit.Put([]byte("k"), []byte("V"))
		if del {
			v = commit.Del([]byte("k"))
		}
		a1 := build(admin, 1, keys.CommitID{}, t0+10, []keys.CommitID{g.ID}, v)
		m1 := build(member, 1, keys.CommitID{}, t0+20, []keys.CommitID{g.ID}, commit.Put([]byte("x"), []byte("x")))
		m2 := build(member, 2, m1.ID, t0+30, []keys.CommitID{a1.ID}, commit.Put([]byte("k"), []byte("W")))
		a2 := build(admin, 2, a1.ID, t0+40, []keys.CommitID{m2.ID}, commit.RevokeOp(commit.Revoke{Author: member.Author(), LastSeq: 1}))

		var sts []*store.Store
		for _, full := range []bool{false, true} {
			st := storetest.TempStore(t)
			store.SetFullRedecide(st, full)
			if err := st.AddSpace(ctx, "s", sp); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Apply(ctx, sp, []*commit.Commit{g, a1, m1, m2}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.DropSuperseded(ctx, sp, time.Now().Add(time.Hour), 100); err != nil {
				t.Fatal(err)
			}
			res, err := st.Apply(ctx, sp, []*commit.Commit{a2})
			if err != nil || res.Outcomes[0].Status != store.Applied {
				t.Fatalf("revocation: %+v, %v", res.Outcomes, err)
			}
			sts = append(sts, st)
		}
		sameDecisions(t, fromCutAndWhole, sts[0], sts[1], sp)
		e, err := sts[0].Get(ctx, sp, []byte("k"))
		if err != nil && !del {
			t.Fatal(err)
		}
		if e.Author != admin.Author() && !del {
			t.Fatalf("k after cutting the member below its write: %+v, want the admin's (erased) write back", e)
		}
	}
}
