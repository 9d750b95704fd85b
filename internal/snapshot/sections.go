package snapshot

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
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
// (author(32) ‖ uvarint(cut)) of the revocation cuts, in author order,
// then, only when S(F) has any, the writes tracked for write-once rules:
// uvarint(n ≥ 1) ‖ n × (author(32) ‖ uvarint(seq) ‖ uvarint(key length)
// ‖ key), in (author, seq, key) order. Authors are written whole: a cut
// may name an author with no commit.
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

// Cell is one key of a cells section: its live writes at F, greatest
// version first.
type Cell struct {
	Key     []byte
	Entries []Entry
}

// Entry is one live write of a cell at F. Its Value is never set (a live
// write's payload is in its kept commit); an erased one has its payload's
// length and digest, and its Erasure.
type Entry struct {
	view.Entry
	Erasure store.Erasure // who erased it, when Erased
}

// encodeCells encodes the cells section of cells, sorted by key; idx maps
// each author to its index in the frontier.
func encodeCells(idx map[keys.AuthorID]int, cells []Cell) ([]byte, error) {
	base := uint64(0)
	if len(cells) > 0 {
		base = 1<<64 - 1
	}
	for _, c := range cells {
		for _, e := range c.Entries {
			base = min(base, e.Time.Wall)
			if e.Erased {
				base = min(base, e.Erasure.Time.Wall)
			}
		}
	}
	index := func(a keys.AuthorID) (uint64, error) {
		i, ok := idx[a]
		if !ok {
			return 0, fmt.Errorf("snapshot: author %s of a cell entry is not in the frontier", a.Short())
		}
		return uint64(i), nil
	}
	b := binary.AppendUvarint(nil, base)
	b = binary.AppendUvarint(b, uint64(len(cells)))
	var prev []byte
	for _, c := range cells {
		shared := 0
		for shared < len(c.Key) && shared < len(prev) && c.Key[shared] == prev[shared] {
			shared++
		}
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(c.Key)-shared))
		b = append(b, c.Key[shared:]...)
		prev = c.Key
		b = binary.AppendUvarint(b, uint64(len(c.Entries)))
		for i := range c.Entries {
			e := &c.Entries[i]
			ai, err := index(e.Author)
			if err != nil {
				return nil, err
			}
			kb := byte(e.Kind)
			if e.Erased {
				kb |= erasedKind
			}
			b = append(b, kb)
			b = binary.AppendUvarint(b, e.Time.Wall-base)
			b = binary.AppendUvarint(b, uint64(e.Time.Logical))
			b = binary.AppendUvarint(b, ai)
			b = binary.AppendUvarint(b, e.Seq)
			b = binary.AppendUvarint(b, uint64(e.Op))
			if !e.Erased {
				continue
			}
			bi, err := index(e.Erasure.By)
			if err != nil {
				return nil, err
			}
			b = binary.AppendUvarint(b, uint64(e.PayloadLen))
			if e.PayloadLen > 0 { // an empty payload's digest is known
				b = append(b, e.PayloadDigest[:]...)
			}
			b = binary.AppendUvarint(b, bi)
			b = binary.AppendUvarint(b, e.Erasure.Seq)
			b = binary.AppendUvarint(b, e.Erasure.Time.Wall-base)
			b = binary.AppendUvarint(b, uint64(e.Erasure.Time.Logical))
		}
	}
	return b, nil
}

// erasedKind marks an erased entry's kind byte.
const erasedKind = 0x80

// Ref names a kept commit.
type Ref struct {
	Author keys.AuthorID
	Seq    uint64
	ID     keys.CommitID
}

// encodeKept encodes the kept section of refs, in (author, seq) order.
func encodeKept(idx map[keys.AuthorID]int, refs []Ref) []byte {
	b := binary.AppendUvarint(nil, uint64(len(refs)))
	for _, r := range refs {
		b = binary.AppendUvarint(b, uint64(idx[r.Author]))
		b = binary.AppendUvarint(b, r.Seq)
		b = append(b, r.ID[:]...)
	}
	return b
}

// Decision is the acl section: the commits of S(F) that do not count, in
// (author, seq) order, the revocation cuts (an author's commits above
// Seq do not count), in author order, and the tracked writes of
// write-once rules (store.OnceWrites), in (author, seq, key) order.
type Decision struct {
	Invalid []acl.Loc
	Cuts    []acl.Loc
	Once    []store.OnceWrite
}

// encodeACL encodes the acl section.
func encodeACL(d Decision) []byte {
	b := binary.AppendUvarint(nil, uint64(len(d.Invalid)))
	for _, l := range d.Invalid {
		b = append(b, l.Author[:]...)
		b = binary.AppendUvarint(b, l.Seq)
	}
	b = binary.AppendUvarint(b, uint64(len(d.Cuts)))
	for _, l := range d.Cuts {
		b = append(b, l.Author[:]...)
		b = binary.AppendUvarint(b, l.Seq)
	}
	if len(d.Once) == 0 { // a space without write-once rules: as before they were carried
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(d.Once)))
	for _, w := range d.Once {
		b = append(b, w.Author[:]...)
		b = binary.AppendUvarint(b, w.Seq)
		b = binary.AppendUvarint(b, uint64(len(w.Key)))
		b = append(b, w.Key...)
	}
	return b
}

// compareOnce orders tracked writes by (author, seq, key).
func compareOnce(a, b store.OnceWrite) int {
	if c := compareLoc(a.Loc, b.Loc); c != 0 {
		return c
	}
	return bytes.Compare(a.Key, b.Key)
}

type locOf struct {
	author keys.AuthorID
	seq    uint64
}

func compareLoc(a, b acl.Loc) int {
	if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}
