package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Hash contexts of the sections' digests (versioned, format §12).
const (
	CtxKept   = "loam/ckpt-kept/v1"
	CtxCells  = "loam/ckpt-cells/v1"
	CtxCausal = "loam/ckpt-causal/v1"
	CtxACL    = "loam/ckpt-acl/v1"
)

var (
	keptHash   = keys.NewHasher(CtxKept)
	cellsHash  = keys.NewHasher(CtxCells)
	causalHash = keys.NewHasher(CtxCausal)
	aclHash    = keys.NewHasher(CtxACL)
)

// Sections are a snapshot's four sections, as encoded bytes.
//
// Kept: uvarint(n) ‖ n × (uvarint(author index) ‖ uvarint(seq) ‖ ID(32)),
// in (author, seq) order. An author index is the author's place in the
// checkpoint's frontier (sorted by author).
//
// Cells: uvarint(base wall) ‖ uvarint(n keys) ‖ per key, in key order:
// uvarint(bytes shared with the previous key) ‖ uvarint(suffix length) ‖
// suffix ‖ uvarint(n entries) ‖ entries, greatest version first, each
// kind ‖ uvarint(wall − base) ‖ uvarint(logical) ‖ uvarint(author index) ‖
// uvarint(seq) ‖ uvarint(op). An erased entry has 0x80 in its kind byte
// and then uvarint(payload length) ‖ payload digest(32), left out when
// the length is 0 (a tombstone: the digest of no bytes) ‖ uvarint(eraser
// index) ‖ uvarint(erase seq) ‖ uvarint(erase wall − base) ‖
// uvarint(erase logical). A live write carries nothing more: its commit is
// kept. The base wall is the smallest wall of the section.
//
// Causal: uvarint(n authors with rows) ‖ per author, in frontier order:
// uvarint(author index) ‖ uvarint(n rows) ‖ rows in seq order, each
// uvarint(seq − previous row's seq) ‖ uvarint(n gains) ‖ n ×
// (uvarint(author index) ‖ uvarint(seq)).
//
// ACL: uvarint(n) ‖ n × (author(32) ‖ uvarint(seq)) of the commits of
// S(F) that do not count, in (author, seq) order ‖ uvarint(n) ‖ n ×
// (author(32) ‖ uvarint(cut)) of the revocation cuts, in author order.
// Authors are written whole: a cut may name an author with no commit.
type Sections struct {
	Kept, Cells, Causal, ACL []byte
}

// Size is the sections' total length.
func (s *Sections) Size() int { return len(s.Kept) + len(s.Cells) + len(s.Causal) + len(s.ACL) }

// KeptDigest is the digest of the kept section (checkpoint field 4).
func KeptDigest(kept []byte) keys.Digest { return keptHash.Sum1(kept) }

// CausalDigest is the digest of the causal section (field 5).
func CausalDigest(causal []byte) keys.Digest { return causalHash.Sum1(causal) }

// ACLDigest is the digest of the acl section (field 6).
func ACLDigest(acl []byte) keys.Digest { return aclHash.Sum1(acl) }

// CellsDigest is the digest of the cells section (field 3): of the
// section followed by the op digest of each live write it names, in
// section order (liveDigests), so that the section cannot name a write
// the kept commits do not hold.
func CellsDigest(cells, liveDigests []byte) keys.Digest { return cellsHash.Sum(cells, liveDigests) }

// cellsWriter encodes the cells section.
type cellsWriter struct {
	base  uint64
	idx   map[keys.AuthorID]int
	buf   []byte
	prev  []byte
	n     int
	keysN int
}

// entryOf is one cell entry as the section has it: the entry, and for
// an erased one its erasure.
type entryOf struct {
	e       view.Entry
	erasure store.Erasure
}

func (w *cellsWriter) index(a keys.AuthorID) (uint64, error) {
	i, ok := w.idx[a]
	if !ok {
		return 0, fmt.Errorf("snapshot: author %s of a cell entry is not in the frontier", a.Short())
	}
	return uint64(i), nil
}

func (w *cellsWriter) add(key []byte, es []entryOf) error {
	shared := 0
	for shared < len(key) && shared < len(w.prev) && key[shared] == w.prev[shared] {
		shared++
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)-shared))
	w.buf = append(w.buf, key[shared:]...)
	w.prev = append(w.prev[:0], key...)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(es)))
	for _, x := range es {
		e := &x.e
		ai, err := w.index(e.Author)
		if err != nil {
			return err
		}
		kb := byte(e.Kind)
		if e.Erased {
			kb |= 0x80
		}
		w.buf = append(w.buf, kb)
		w.buf = binary.AppendUvarint(w.buf, e.Time.Wall-w.base)
		w.buf = binary.AppendUvarint(w.buf, uint64(e.Time.Logical))
		w.buf = binary.AppendUvarint(w.buf, ai)
		w.buf = binary.AppendUvarint(w.buf, e.Seq)
		w.buf = binary.AppendUvarint(w.buf, uint64(e.Op))
		if e.Erased {
			bi, err := w.index(x.erasure.By)
			if err != nil {
				return err
			}
			w.buf = binary.AppendUvarint(w.buf, uint64(e.PayloadLen))
			if e.PayloadLen > 0 { // an empty payload's digest is known
				w.buf = append(w.buf, e.PayloadDigest[:]...)
			}
			w.buf = binary.AppendUvarint(w.buf, bi)
			w.buf = binary.AppendUvarint(w.buf, x.erasure.Seq)
			w.buf = binary.AppendUvarint(w.buf, x.erasure.Time.Wall-w.base)
			w.buf = binary.AppendUvarint(w.buf, uint64(x.erasure.Time.Logical))
		}
	}
	w.keysN++
	return nil
}

// bytes returns the section: the header, then the keys.
func (w *cellsWriter) bytes() []byte {
	h := binary.AppendUvarint(nil, w.base)
	h = binary.AppendUvarint(h, uint64(w.keysN))
	return append(h, w.buf...)
}

// encodeKept encodes the kept section of cs, in (author, seq) order.
func encodeKept(idx map[keys.AuthorID]int, cs []*commit.Commit) []byte {
	b := binary.AppendUvarint(nil, uint64(len(cs)))
	for _, c := range cs {
		b = binary.AppendUvarint(b, uint64(idx[c.Author]))
		b = binary.AppendUvarint(b, c.Seq)
		b = append(b, c.ID[:]...)
	}
	return b
}

// aclWriter encodes the acl section.
func encodeACL(invalid []locOf, cuts []locOf) []byte {
	b := binary.AppendUvarint(nil, uint64(len(invalid)))
	for _, l := range invalid {
		b = append(b, l.author[:]...)
		b = binary.AppendUvarint(b, l.seq)
	}
	b = binary.AppendUvarint(b, uint64(len(cuts)))
	for _, l := range cuts {
		b = append(b, l.author[:]...)
		b = binary.AppendUvarint(b, l.seq)
	}
	return b
}

type locOf struct {
	author keys.AuthorID
	seq    uint64
}

func compareLoc(a, b locOf) int {
	if c := bytes.Compare(a.author[:], b.author[:]); c != 0 {
		return c
	}
	switch {
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}
