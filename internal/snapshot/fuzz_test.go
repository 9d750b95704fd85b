package snapshot

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// seedSnapshot is the snapshot of a small generated history (writes,
// deletes, grants, revocations, invites, erases by the admin), for the
// fuzz targets' seeds and frontier.
func seedSnapshot(f *testing.F) *Snapshot {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(14, 14))
	h := storetest.GenACL(r, storetest.Gen{Authors: 3, Ops: 60, Keys: 8, MaxBatch: 3})
	st, err := store.Open(f.TempDir(), store.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	sp := h.Space()
	if err := st.AddSpace(ctx, "s", sp); err != nil {
		f.Fatal(err)
	}
	if left := storetest.Deliver(f, st, sp, h.Commits, 16, nil); len(left) != 0 {
		f.Fatalf("%d commits not applied", len(left))
	}
	s, err := FromStore(ctx, st, sp)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzDecodeSections: each section decoder accepts only bytes that its
// encoder writes for what it decoded, and never panics.
//
//	go test -run='^$' -fuzz=FuzzDecodeSections -fuzztime=30s ./internal/snapshot
func FuzzDecodeSections(f *testing.F) {
	s := seedSnapshot(f)
	fr := s.Checkpoint.Frontier
	idx := indexOf(fr)
	for i, b := range [][]byte{s.Sections.Kept, s.Sections.Cells, s.Sections.Causal, s.Sections.ACL} {
		f.Add(byte(i), b)
		if len(b) > 3 {
			f.Add(byte(i), b[:len(b)-3])
		}
	}
	f.Add(byte(1), []byte{0x00, 0x01, 0x00, 0x01, 'k', 0x01, 0x81, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}) // an erased put of no bytes
	f.Add(byte(2), []byte{0x01, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01})
	f.Add(byte(3), []byte{0x00, 0x00})
	f.Add(byte(3), encodeACL(Decision{Once: []store.OnceWrite{{Key: []byte("o/x"), Loc: acl.Loc{Author: fr[0].Author, Seq: 1}}, {Key: []byte("o/y"), Loc: acl.Loc{Author: fr[0].Author, Seq: 1}}}})) // two tracked writes
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		var again []byte
		var err error
		switch which % 4 {
		case 0:
			refs, derr := DecodeKept(b, fr)
			if derr != nil {
				return
			}
			again = encodeKept(idx, refs)
		case 1:
			cells, derr := DecodeCells(b, fr)
			if derr != nil {
				return
			}
			for _, c := range cells {
				if len(c.Key) == 0 || len(c.Key) > commit.MaxKeySize || len(c.Entries) == 0 {
					t.Fatalf("cell %q of %d entries accepted", c.Key, len(c.Entries))
				}
			}
			again, err = encodeCells(idx, cells)
		case 2:
			rows, derr := DecodeCausal(b, fr)
			if derr != nil {
				return
			}
			again, err = encodeCausal(idx, rows)
		case 3:
			d, derr := DecodeACL(b)
			if derr != nil {
				return
			}
			again = encodeACL(d)
		}
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("section %d decoded, and encodes back as %x (%v), not %x", which%4, again, err, b)
		}
	})
}
