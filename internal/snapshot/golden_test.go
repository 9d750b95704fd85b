package snapshot_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store/storetest"
)

// builder returns commit.Build for space sp, failing t on an error.
func builder(t *testing.T, sp keys.SpaceID) func(s commit.Signer, h commit.Header, ops ...commit.Op) *commit.Commit {
	return func(s commit.Signer, h commit.Header, ops ...commit.Op) *commit.Commit {
		t.Helper()
		h.Space = sp
		c, err := commit.Build(h, ops, s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// TestGoldenSections pins the sections' encodings on a fixed history: the
// space key's genesis granting admin to a device (seed 02…), which then
// puts a=1 and b=22 (seq 1), deletes a (seq 2) and erases b (seq 3). A
// change of an encoder changes these bytes, and a change of the format
// needs a new hash context (CtxCells and the others end in /v1).
func TestGoldenSections(t *testing.T) {
	ctx := context.Background()
	sk, dev := keys.SpaceKeyFromSeed([32]byte{1}), keys.DeviceKeyFromSeed([32]byte{2})
	sp := sk.Space()
	const w = 1_700_000_000_000_000
	build := builder(t, sp)
	g := build(sk, commit.Header{Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: w}}, commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: commit.RoleAdmin}))
	c1 := build(dev, commit.Header{Author: dev.Author(), Seq: 1, Time: commit.HLC{Wall: w + 1000}, Deps: []keys.CommitID{g.ID}},
		commit.Put([]byte("a"), []byte("1")), commit.Put([]byte("b"), []byte("22")))
	c2 := build(dev, commit.Header{Author: dev.Author(), Seq: 2, Prev: c1.ID, Time: commit.HLC{Wall: w + 2000}}, commit.Del([]byte("a")))
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: dev.Author(), Seq: 1, ID: c1.ID, Op: 1, Key: []byte("b")}}})
	if err != nil {
		t.Fatal(err)
	}
	c3 := build(dev, commit.Header{Author: dev.Author(), Seq: 3, Prev: c2.ID, Time: commit.HLC{Wall: w + 3000, Logical: 1}}, er)
	st := storetest.TempSpace(t, g)
	if _, err := st.Apply(ctx, sp, []*commit.Commit{c1, c2, c3}); err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.FromStore(ctx, st, sp)
	if err != nil {
		t.Fatal(err)
	}
	// The frontier is sorted by author: the device (index 0), then the
	// space key (1).
	if f := s.Checkpoint.Frontier; len(f) != 2 || f[0].Author != dev.Author() || f[1].Author != sk.Author() {
		t.Fatalf("frontier %+v", f)
	}
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"kept", s.Sections.Kept, append([]byte{
			0x01,       // 1 kept commit: c1 has no live write left (a deleted, b erased)
			0x01, 0x01, // the space key's seq 1, the genesis (a grant)
		}, g.ID[:]...)},
		{"cells", s.Sections.Cells, golden.Hex(`
			e887f9c0c1c48203 02                   # base wall 1700000000001000 (c1's, uvarint), 2 keys
			00 01 61 01                           # key "a" (0 shared, 1 new), 1 entry
			  02 e807 00 00 02 00                 #   del: wall +1000, logical 0, author 0, seq 2, op 0
			00 01 62 01                           # key "b", 1 entry
			  81 00 00 00 01 01                   #   erased put: wall +0, logical 0, author 0, seq 1, op 1
			  02 ` + hexOf(keys.PayloadHash.Sum1([]byte("22"))) + ` # payload of 2 bytes, its digest
			  00 03 d00f 01                       #   erased by author 0 seq 3 at wall +2000, logical 1`)},
		{"causal", s.Sections.Causal, golden.Hex(`
			01       # 1 author with gains
			00 01    # the device, 1 row
			01 01    # seq 1, 1 gain:
			01 01    #   the space key's seq 1 (the genesis)`)},
		{"acl", s.Sections.ACL, []byte{0x00, 0x00}},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s section changed:\n got %x\nwant %x", c.name, c.got, c.want)
		}
	}
	// No live write: the cells digest covers the section alone.
	if k := s.Checkpoint; k.Cells != keys.NewHasher("loam/ckpt-cells/v1").Sum1(s.Sections.Cells) ||
		k.Kept != keys.NewHasher("loam/ckpt-kept/v1").Sum1(s.Sections.Kept) ||
		k.Causal != keys.NewHasher("loam/ckpt-causal/v1").Sum1(s.Sections.Causal) ||
		k.ACL != keys.NewHasher("loam/ckpt-acl/v1").Sum1(s.Sections.ACL) || k.View != (keys.Digest{}) {
		t.Error("a digest is not its section's under its context")
	}
	if st := s.Checkpoint.Stats; st.Commits != 4 || st.Kept != 1 || st.Cells != 2 || s.Checkpoint.Visible != 0 {
		t.Errorf("stats %+v, visible %d", st, s.Checkpoint.Visible)
	}
}

func hexOf(d keys.Digest) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(d))
	for _, x := range d {
		b = append(b, digits[x>>4], digits[x&15])
	}
	return string(b)
}
