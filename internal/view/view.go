package view

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Version identifies one write and orders the writes to a key.
type Version struct {
	Time   commit.HLC
	Author keys.AuthorID
	Seq    uint64
	Op     uint32 // index of the op in its commit
}

// Compare orders versions by time, then author, then seq, then op index.
func (a Version) Compare(b Version) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
		return c
	}
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	case a.Op < b.Op:
		return -1
	case a.Op > b.Op:
		return 1
	}
	return 0
}

// Entry is one write to a key.
type Entry struct {
	Version
	Kind  commit.Kind // KindPut, KindDel or KindPutBlob
	Value []byte      // the payload; nil for a tombstone or an erased write

	// Erased is set once the write's payload is not held here: Value is
	// nil and PayloadDigest and PayloadLen keep what the view hash covers.
	Erased        bool
	PayloadDigest keys.Digest
	PayloadLen    int
	// Lost (with Erased) says that no erase that counts names the write:
	// its commit arrived erased ahead of the erase, or the erase that
	// dropped the payload here was voided later (its author revoked
	// concurrently). A lost write stays visible, in the view hash through
	// its digest, so that replicas agree on the view whether or not they
	// hold its payload.
	Lost bool
}

// Erase marks e erased by an erase that counts, dropping its payload and
// keeping its digest and length.
func (e *Entry) Erase() {
	if e.Erased {
		e.Lost = false
		return
	}
	e.PayloadDigest, e.PayloadLen = keys.PayloadHash.Sum1(e.Value), len(e.Value)
	e.Erased, e.Value = true, nil
}

// Lose drops e's payload, keeping its digest and length, without an erase
// that counts: e stays visible.
func (e *Entry) Lose() {
	if !e.Erased {
		e.Erase()
	}
	e.Lost = true
}

// Tombstone reports whether the entry deletes its key.
func (e *Entry) Tombstone() bool { return e.Kind == commit.KindDel }

// Visible reports whether the entry, as its key's winner, is in the view
// hash and count: neither a tombstone nor erased by an erase that counts
// (a lost write is visible). An erased winner stays in its cell, so that a
// read says the key was erased, but counts as a deleted key: a replica
// that receives a private space's erased write cannot open it and never
// learns its key, so erased writes must not count anywhere.
func (e *Entry) Visible() bool { return !e.Tombstone() && (!e.Erased || e.Lost) }

// Cell is the state of one key: its live writes, greatest Version first.
type Cell struct {
	Live []Entry
}

// Winner returns the visible write of the key, if any. A tombstone winner
// is returned too; callers check Tombstone.
func (c *Cell) Winner() (Entry, bool) {
	if len(c.Live) == 0 {
		return Entry{}, false
	}
	return c.Live[0], true
}

// Conflicts returns the live writes that lost to the winner.
func (c *Cell) Conflicts() []Entry {
	if len(c.Live) < 2 {
		return nil
	}
	return c.Live[1:]
}

// SeenFunc reports whether the commit of the write being applied had seen
// the write e (e's commit is in its causal past).
type SeenFunc func(e *Entry) bool

// Apply adds write w to the cell. Live writes that w has seen are dropped;
// w joins the live set. It returns false if w was already in the cell (a
// re-delivered write), leaving the cell unchanged.
//
// Apply must be called in causal order: w's commit after every commit it
// has seen. Then w can never be in the causal past of a write already live.
func (c *Cell) Apply(w Entry, seen SeenFunc) bool {
	for i := range c.Live {
		if c.Live[i].Version == w.Version {
			return false
		}
	}
	out := c.Live[:0] // filter in place: the write index never passes the read index
	for i := range c.Live {
		if e := &c.Live[i]; !seen(e) {
			out = append(out, *e)
		}
	}
	// Insert w keeping the greatest version first.
	i := 0
	for i < len(out) && out[i].Version.Compare(w.Version) > 0 {
		i++
	}
	out = append(out, Entry{})
	copy(out[i+1:], out[i:])
	out[i] = w
	c.Live = out
	return true
}

// Hash is the digest of a whole view: the XOR of its entries' digests.
type Hash keys.Digest

func (h Hash) String() string { return fmt.Sprintf("%x", h[:]) }

// Toggle adds d to the hash or, applied a second time, removes it.
func (h *Hash) Toggle(d keys.Digest) {
	for i := range h {
		h[i] ^= d[i]
	}
}

// EntryDigest is the contribution of a visible key to the view hash: the
// digest of the op that wrote it (commit.Op.Digest), which covers the kind,
// the key and the payload's digest. The writer of an entry already has it
// (commit.Commit.OpDigest), so applying a write costs no hashing.
func EntryDigest(key []byte, e *Entry) keys.Digest {
	o := commit.Op{Kind: e.Kind, Key: key, Payload: e.Value, Erased: e.Erased, PayloadDigest: e.PayloadDigest, PayloadLen: e.PayloadLen}
	return o.Digest()
}

// VisibleDigest returns the cell's contribution to the view hash and
// whether it has one (a cell whose winner is a tombstone has none).
func (c *Cell) VisibleDigest(key []byte) (keys.Digest, bool) {
	w, ok := c.Winner()
	if !ok || !w.Visible() {
		return keys.Digest{}, false
	}
	return EntryDigest(key, &w), true
}

// ErrCorrupt is returned by DecodeCell for bytes that are not a cell.
var ErrCorrupt = errors.New("view: corrupt cell")

// maxLive bounds the live writes of one key that DecodeCell accepts.
const maxLive = 1 << 16

// minEntrySize is the smallest encoded entry: times, author, four
// one-byte fields.
const minEntrySize = 8 + 4 + 32 + 4

// erasedFlag marks an erased entry's kind byte in a cell's encoding;
// lostFlag, with it, a lost one.
const (
	erasedFlag = 0x80
	lostFlag   = 0x40
)

// AppendCell appends the cell's binary encoding to dst:
// uvarint(n), then per entry: wall (8, big endian), logical (4), author (32),
// uvarint seq, uvarint op, kind (1), uvarint len, value; an erased entry
// has erasedFlag in its kind byte (and lostFlag if lost) and the payload's
// digest (32) where the value would be.
func AppendCell(dst []byte, c *Cell) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c.Live)))
	for i := range c.Live {
		e := &c.Live[i]
		dst = binary.BigEndian.AppendUint64(dst, e.Time.Wall)
		dst = binary.BigEndian.AppendUint32(dst, e.Time.Logical)
		dst = append(dst, e.Author[:]...)
		dst = binary.AppendUvarint(dst, e.Seq)
		dst = binary.AppendUvarint(dst, uint64(e.Op))
		if e.Erased {
			kb := byte(e.Kind) | erasedFlag
			if e.Lost {
				kb |= lostFlag
			}
			dst = append(dst, kb)
			dst = binary.AppendUvarint(dst, uint64(e.PayloadLen))
			dst = append(dst, e.PayloadDigest[:]...)
			continue
		}
		dst = append(dst, byte(e.Kind))
		dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
		dst = append(dst, e.Value...)
	}
	return dst
}

// DecodeCell parses AppendCell's encoding strictly. The entries' values
// alias b.
func DecodeCell(b []byte) (Cell, error) {
	r := reader{b: b}
	n := r.uvarint()
	if r.err != nil || n == 0 || n > maxLive || n > uint64(len(b))/minEntrySize {
		return Cell{}, fmt.Errorf("%w: bad entry count", ErrCorrupt)
	}
	c := Cell{Live: make([]Entry, n)}
	for i := range c.Live {
		e := &c.Live[i]
		e.Time.Wall = binary.BigEndian.Uint64(r.take(8))
		e.Time.Logical = binary.BigEndian.Uint32(r.take(4))
		copy(e.Author[:], r.take(keys.Size))
		e.Seq = r.uvarint()
		op := r.uvarint()
		kb := r.take(1)[0]
		e.Kind, e.Erased, e.Lost = commit.Kind(kb&^(erasedFlag|lostFlag)), kb&erasedFlag != 0, kb&lostFlag != 0
		vlen := r.uvarint()
		if r.err != nil {
			break
		}
		if op >= commit.MaxOps || vlen > commit.MaxValueSize || !e.Kind.IsData() || e.Seq == 0 || e.Kind == commit.KindDel && vlen != 0 || e.Lost && !e.Erased {
			return Cell{}, fmt.Errorf("%w: entry %d out of range", ErrCorrupt, i)
		}
		e.Op = uint32(op)
		switch {
		case e.Erased:
			e.PayloadLen = int(vlen)
			copy(e.PayloadDigest[:], r.take(keys.Size))
		case vlen > 0:
			e.Value = r.take(int(vlen))
		}
		if i > 0 && c.Live[i-1].Version.Compare(e.Version) <= 0 {
			return Cell{}, fmt.Errorf("%w: entries out of order", ErrCorrupt)
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return Cell{}, fmt.Errorf("%w: truncated or trailing bytes", ErrCorrupt)
	}
	return c, nil
}

// reader consumes bytes, remembering the first error; on error it returns
// zeroed scratch so callers can check once at the end.
type reader struct {
	b   []byte
	err error
}

var scratch [64]byte

func (r *reader) take(n int) []byte {
	if r.err != nil || n > len(r.b) {
		if r.err == nil {
			r.err = ErrCorrupt
		}
		if n <= len(scratch) {
			return make([]byte, n)
		}
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) { // minimal encodings only: one value, one encoding
		r.err = ErrCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
