package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/store"
)

// TestSealedOps: with an Unseal hook (a member) a sealed op that opens is
// in the view and one that does not is ignored, its commit counting; with
// none (a seeder) the same commits are stored and the view is empty. The
// Rotated hook sees the rotate ops of commits that count.
func TestSealedOps(t *testing.T) {
	ctx := context.Background()
	sk, dev := keys.SpaceKeyFromSeed([32]byte{1}), keys.DeviceKeyFromSeed([32]byte{2})
	sp := sk.Space()
	rk := seal.ReadKey{3}
	genesis, err := commit.Build(commit.Header{Space: sp, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: 1000}},
		[]commit.Op{
			commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: commit.RoleAdmin}),
			commit.RotateOp(commit.Rotate{Epoch: 0, Keys: []commit.SealedKey{{Reader: dev.Author(), Sealed: make([]byte, seal.SealedKeySize)}}}),
		}, sk)
	if err != nil {
		t.Fatal(err)
	}
	good, err := seal.SealPayload(rk, sp, 0, commit.EncodeSealedOp(commit.Put([]byte("k"), []byte("v"))))
	if err != nil {
		t.Fatal(err)
	}
	notAnOp, err := seal.SealPayload(rk, sp, 0, []byte{16, 0}) // opens, but is no data op
	if err != nil {
		t.Fatal(err)
	}
	c, err := commit.Build(commit.Header{Space: sp, Author: dev.Author(), Seq: 1, Time: commit.HLC{Wall: 2000}, Deps: []keys.CommitID{genesis.ID}},
		[]commit.Op{
			{Kind: commit.KindSealed, Payload: good},
			{Kind: commit.KindSealed, Payload: []byte("garbage that opens under no key")},
			{Kind: commit.KindSealed, Payload: notAnOp},
		}, dev)
	if err != nil {
		t.Fatal(err)
	}

	for _, member := range []bool{true, false} {
		o := store.Options{}
		var rotates int
		if member {
			o.Unseal = func(s keys.SpaceID, epoch uint64, payload []byte) (commit.Op, bool) {
				pt, err := seal.OpenPayload(rk, s, epoch, payload)
				if err != nil {
					return commit.Op{}, false
				}
				op, err := commit.DecodeSealedOp(pt)
				return op, err == nil
			}
			o.Rotated = func(keys.SpaceID, bool, []byte) { rotates++ }
		}
		st, err := store.Open(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSpace(ctx, "club", genesis); err != nil {
			t.Fatal(err)
		}
		res, err := st.Apply(ctx, sp, []*commit.Commit{c})
		if err != nil || res.Outcomes[0].Status != store.Applied {
			t.Fatalf("member %v: apply: %+v, %v", member, res, err)
		}
		e, err := st.Get(ctx, sp, []byte("k"))
		vs, verr := st.View(ctx, sp)
		if verr != nil {
			t.Fatal(verr)
		}
		switch {
		case member && (err != nil || string(e.Value) != "v" || vs.Visible != 1 || rotates != 1):
			t.Errorf("member: get k = %q, %v; %d visible; %d rotate ops seen", e.Value, err, vs.Visible, rotates)
		case !member && (!errors.Is(err, store.ErrNotFound) || vs.Visible != 0):
			t.Errorf("seeder: get k = %q, %v; %d visible", e.Value, err, vs.Visible)
		}
		st.Close()
	}
}
