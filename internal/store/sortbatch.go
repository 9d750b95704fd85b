package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/keys"
)

// Pebble inserts a committed batch's writes into its memtable's skiplist
// one by one, in the batch's order, and each insert starts its search from
// where the previous one ended when that brackets the new key, else from
// the top. The applier writes a commit's rows of several kinds in turn (the
// commit, its ID, its gains, cells, indexes), so in its order nearly every
// insert searches from the top, a cache miss or more per level of a
// memtable of a million entries: 28-30% of the applier's time at a
// thousand authors (docs/benchmarks.md, "A batch per key and writes in
// key order"). In key order, rows of one kind follow each other and most
// searches are short.

// sortMin is the fewest writes worth sorting.
const sortMin = 64

// inKeyOrder returns a batch of b's writes in key order, or b itself when
// it is small, large (a quarter memtable or more: the sorted copy costs as
// much memory again, and Pebble makes a batch over half a memtable a
// memtable of its own, sorted as such) or holds anything but point sets
// and deletes (a range deletion covers the writes before it in the batch,
// not those after: their order matters). Writes of one key keep their
// order (ties break by place in the batch), so the last still wins. The
// caller closes a batch it did not pass in.
func (s *Store) inKeyOrder(b *pebble.Batch) (*pebble.Batch, error) {
	if b.Count() < sortMin || uint64(b.Len()) >= s.memSize/4 {
		return b, nil
	}
	ws := make([]write, 0, b.Count())
	sorted := true
	var space []byte // the bytes after the tag every key shares, if they do
	r := b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if kind != pebble.InternalKeyKindSet && kind != pebble.InternalKeyKindDelete {
			return b, nil
		}
		if n := len(ws); n > 0 && sorted && bytes.Compare(ws[n-1].k, k) > 0 {
			sorted = false
		}
		if len(ws) == 0 && len(k) >= spacePrefix {
			space = k[1:spacePrefix]
		} else if space != nil && (len(k) < spacePrefix || !bytes.Equal(k[1:spacePrefix], space)) {
			space = nil
		}
		ws = append(ws, write{kind, k, v})
	}
	if sorted {
		return b, nil
	}
	// Most batches write one space: its ID follows every key's tag, and
	// comparing it again and again would be most of the sort.
	skip := 0
	if space != nil {
		skip = spacePrefix
	}
	// The sort moves 16-byte entries, not the writes.
	order := make([]sortEntry, len(ws))
	for i := range ws {
		order[i] = sortEntry{sortPrefix(ws[i].k, skip), uint32(i)}
	}
	slices.SortFunc(order, func(x, y sortEntry) int {
		if c := cmp.Compare(x.pre, y.pre); c != 0 {
			return c
		}
		if c := bytes.Compare(ws[x.i].k[skip:], ws[y.i].k[skip:]); c != 0 {
			return c
		}
		return cmp.Compare(x.i, y.i) // one key's writes in the batch's order
	})
	out := s.db.NewBatchWithSize(b.Len())
	for _, o := range order {
		w := &ws[o.i]
		var err error
		if w.kind == pebble.InternalKeyKindSet {
			err = out.Set(w.k, w.v, nil)
		} else {
			err = out.Delete(w.k, nil)
		}
		if err != nil {
			out.Close()
			return nil, err
		}
	}
	return out, nil
}

// spacePrefix is the length of a table tag and a space ID.
const spacePrefix = 1 + keys.Size

// write is one write of a batch being sorted.
type write struct {
	kind pebble.InternalKeyKind
	k, v []byte
}

// sortEntry is a write's place in the order: pre (see sortPrefix), then
// its key past the bytes every key shares, then i, its place in the batch.
type sortEntry struct {
	pre uint64
	i   uint32
}

// sortPrefix returns k's first byte and the 7 bytes from skip (the first
// 8 bytes when skip is 0), zero-padded, as a number that orders keys as
// their bytes do as far as it reaches: keys sharing bytes 1 to skip order
// by it first and then by what follows skip.
func sortPrefix(k []byte, skip int) uint64 {
	var b [8]byte
	if skip == 0 {
		copy(b[:], k)
	} else {
		b[0] = k[0]
		copy(b[1:], k[skip:])
	}
	return binary.BigEndian.Uint64(b[:])
}
