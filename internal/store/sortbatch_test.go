package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestInKeyOrder: a batch committed in key order leaves the database as
// the batch in its own order would, with one key written several times
// (sets and deletes, the last wins), keys of one space and of several,
// keys shorter than a space's prefix; a batch with a range deletion is
// left in its order (the deletion covers only the writes before it).
func TestInKeyOrder(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			s, err := Open(t.TempDir(), Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			space := bytes.Repeat([]byte{9}, spacePrefix-1)
			key := func() []byte {
				tag := byte(0x10 + r.IntN(3))
				rest := []byte(fmt.Sprintf("k%d", r.IntN(40))) // few keys: many written twice
				if !shared && r.IntN(4) == 0 {
					return append([]byte{tag}, rest...) // short, no space
				}
				sp := space
				if !shared && r.IntN(2) == 0 {
					sp = bytes.Repeat([]byte{byte(r.IntN(3))}, spacePrefix-1)
				}
				return append(append([]byte{tag}, sp...), rest...)
			}
			want := map[string]string{}
			b := s.db.NewBatch()
			for i := range 500 {
				k := key()
				if r.IntN(4) == 0 {
					b.Delete(k, nil)
					delete(want, string(k))
				} else {
					v := fmt.Sprint(i)
					b.Set(k, []byte(v), nil)
					want[string(k)] = v
				}
			}
			sb, err := s.inKeyOrder(b)
			if err != nil {
				t.Fatal(err)
			}
			if sb == b {
				t.Fatal("an unordered batch was not sorted")
			}
			if err := sb.Commit(pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			it, err := s.db.NewIter(nil)
			if err != nil {
				t.Fatal(err)
			}
			for it.First(); it.Valid(); it.Next() {
				got[string(it.Key())] = string(it.Value())
			}
			it.Close()
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%q = %q, want %q", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok && k[0] >= 0x10 && k[0] <= 0x12 {
					t.Errorf("%q is there, deleted last", k)
				}
			}
		})
	}
	t.Run("range deletion", func(t *testing.T) {
		s, err := Open(t.TempDir(), Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		b := s.db.NewBatch()
		for i := range 100 {
			b.Set([]byte{0x10, byte(100 - i)}, nil, nil)
		}
		b.DeleteRange([]byte{0x10}, []byte{0x11}, nil)
		b.Set([]byte{0x10, 5}, nil, nil)
		if sb, err := s.inKeyOrder(b); err != nil || sb != b {
			t.Fatalf("a batch with a range deletion was reordered (%v)", err)
		}
	})
}
