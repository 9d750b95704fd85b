package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestBuildRefuses: Build and FromStore refuse what a checkpoint cannot
// summarize (a private space, a forked author) and a frontier the store
// does not hold, or one that is not closed under causality, rather than
// summarize something else.
func TestBuildRefuses(t *testing.T) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{31})
	ana, bo := keys.DeviceKeyFromSeed([32]byte{32}), keys.DeviceKeyFromSeed([32]byte{33})
	sp := sk.Space()
	open := func(genesisOps ...commit.Op) (*store.Store, *commit.Commit) {
		st := storetest.TempStore(t)
		g, err := commit.Build(commit.Header{Space: sp, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: 1_700_000_000_000_000}}, genesisOps, sk)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSpace(ctx, "s", g); err != nil {
			t.Fatal(err)
		}
		return st, g
	}
	grants := []commit.Op{
		commit.GrantOp(commit.Grant{Subject: ana.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: bo.Author(), Role: commit.RoleWrite}),
	}
	write := func(st *store.Store, k keys.DeviceKey, key string) *commit.Commit {
		c, err := commit.Build(storetest.NextHeader(ctx, t, st, sp, k.Author()), []commit.Op{commit.Put([]byte(key), []byte("v"))}, k)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := st.Apply(ctx, sp, []*commit.Commit{c}); err != nil || res.Outcomes[0].Status != store.Applied {
			t.Fatalf("apply: %v %v", res, err)
		}
		return c
	}

	private, _ := open(append(grants, commit.RotateOp(commit.Rotate{Epoch: 1, Keys: []commit.SealedKey{{Reader: ana.Author(), Sealed: []byte("sealed")}}}))...)
	if _, err := snapshot.FromStore(ctx, private, sp); !errors.Is(err, snapshot.ErrUnsupported) {
		t.Errorf("a private space: %v", err)
	}

	forked, _ := open(grants...)
	write(forked, ana, "a")
	storetest.Fork(ctx, t, forked, sp, bo, "b")
	if _, err := snapshot.FromStore(ctx, forked, sp); !errors.Is(err, snapshot.ErrUnsupported) {
		t.Errorf("a forked author: %v", err)
	}

	st, g := open(grants...)
	a1 := write(st, ana, "a")
	a2 := write(st, ana, "a")
	b1 := write(st, bo, "b") // depends on a2
	head := func(c *commit.Commit) commit.FrontierHead {
		return commit.FrontierHead{Author: c.Author, Seq: c.Seq, ID: c.ID, Time: c.Time}
	}
	sorted := func(hs ...commit.FrontierHead) []commit.FrontierHead {
		slices.SortFunc(hs, func(a, b commit.FrontierHead) int { return bytes.Compare(a.Author[:], b.Author[:]) })
		return hs
	}
	if _, err := snapshot.Build(ctx, st, sp, sorted(head(g), head(a2), head(b1))); err != nil {
		t.Fatalf("the heads: %v", err)
	}
	if _, err := snapshot.Build(ctx, st, sp, sorted(head(g), head(a1))); err != nil {
		t.Fatalf("a closed frontier below the heads: %v", err)
	}
	beyond := head(a2)
	beyond.Seq = 3
	wrongID := head(a2)
	wrongID.ID = a1.ID
	for name, f := range map[string][]commit.FrontierHead{
		"a seq not held":         sorted(head(g), beyond),
		"another commit's ID":    sorted(head(g), wrongID),
		"not closed (bo saw a2)": sorted(head(g), head(a1), head(b1)),
		"without the genesis":    sorted(head(a2)),
	} {
		s, err := snapshot.Build(ctx, st, sp, f)
		if err == nil {
			t.Errorf("%s: built %+v", name, s.Checkpoint.Stats)
		}
		t.Logf("%s: %v", name, err)
	}
}
