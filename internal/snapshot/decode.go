package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Decoders of the sections, which a joiner receives from a peer: strict
// (every count bounded by the bytes left, every author index in the
// frontier, every seq within it, orders strict) and canonical (a decoded
// section encodes back to the same bytes, so a section has one encoding:
// the one its digest names).

// ErrMalformed is wrapped by the decoders' errors.
var ErrMalformed = errors.New("snapshot: malformed section")

// maxLive bounds the live writes of one key (as view.DecodeCell does).
const maxLive = 1 << 16

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("truncated or overlong varint")
		return 0
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		r.fail("varint not in its shortest form")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// count reads a count of items of at least min bytes each, bounded by
// the bytes left and by limit.
func (r *reader) count(min int, limit uint64, what string) int {
	n := r.uvarint()
	if r.err == nil && (n > limit || n > uint64(len(r.b)/min)) {
		r.fail("%d %s in %d bytes", n, what, len(r.b))
		return 0
	}
	return int(n)
}

// author reads an author index into f.
func (r *reader) author(f []commit.FrontierHead) (int, bool) {
	i := r.uvarint()
	if r.err == nil && i >= uint64(len(f)) {
		r.fail("author index %d, the frontier has %d", i, len(f))
	}
	return int(i), r.err == nil
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the section", len(r.b))
	}
	return r.err
}

func indexOf(f []commit.FrontierHead) map[keys.AuthorID]int {
	idx := make(map[keys.AuthorID]int, len(f))
	for i, h := range f {
		idx[h.Author] = i
	}
	return idx
}

// DecodeKept parses a kept section for frontier f: refs in strictly
// increasing (author, seq) order, each seq within f.
func DecodeKept(b []byte, f []commit.FrontierHead) ([]Ref, error) {
	r := &reader{b: b}
	n := r.count(2+keys.Size, math.MaxUint32, "kept commits")
	refs := make([]Ref, 0, n)
	last, lastSeq := -1, uint64(0)
	for range n {
		i, ok := r.author(f)
		seq := r.uvarint()
		id := r.take(keys.Size)
		if !ok || r.err != nil {
			break
		}
		if seq == 0 || seq > f[i].Seq || i < last || i == last && seq <= lastSeq {
			r.fail("kept commit %d seq %d out of order or past the frontier", i, seq)
			break
		}
		last, lastSeq = i, seq
		refs = append(refs, Ref{Author: f[i].Author, Seq: seq, ID: keys.CommitID(id)})
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return refs, nil
}

// DecodeCells parses a cells section for frontier f: keys non-empty, at
// most commit.MaxKeySize, strictly increasing; 1..65536 entries a key,
// data kinds only, versions strictly decreasing, authors' seqs within f;
// an erased entry's payload length within the inline limit (0 for a
// tombstone) and its eraser in f. It is canonical: it encodes back to b.
func DecodeCells(b []byte, f []commit.FrontierHead) ([]Cell, error) {
	r := &reader{b: b}
	base := r.uvarint()
	n := r.count(9, math.MaxUint32, "keys")
	cells := make([]Cell, 0, n)
	var prev []byte
	wall := func(what string) uint64 {
		d := r.uvarint()
		if r.err == nil && d > math.MaxUint64-base {
			r.fail("%s time overflows", what)
		}
		return base + d
	}
	logical := func() uint32 {
		v := r.uvarint()
		if r.err == nil && v > math.MaxUint32 {
			r.fail("logical clock %d out of range", v)
		}
		return uint32(v)
	}
	for range n {
		shared := r.uvarint()
		suffix := r.uvarint()
		if r.err == nil && (shared > uint64(len(prev)) || suffix > commit.MaxKeySize || shared+suffix == 0 || shared+suffix > commit.MaxKeySize) {
			r.fail("key of %d+%d bytes after a key of %d", shared, suffix, len(prev))
		}
		tail := r.take(suffix)
		if r.err != nil {
			break
		}
		key := append(append(make([]byte, 0, shared+suffix), prev[:shared]...), tail...)
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			r.fail("keys out of order at %q", key)
			break
		}
		prev = key
		m := r.count(6, maxLive, "entries")
		if r.err == nil && m == 0 {
			r.fail("key %q has no entries", key)
		}
		c := Cell{Key: key, Entries: make([]Entry, m)}
		for j := range c.Entries {
			e := &c.Entries[j]
			kb := r.take(1)
			if r.err != nil {
				break
			}
			e.Kind, e.Erased = commit.Kind(kb[0]&^erasedKind), kb[0]&erasedKind != 0
			e.Time.Wall = wall("entry")
			e.Time.Logical = logical()
			ai, _ := r.author(f)
			e.Seq = r.uvarint()
			op := r.uvarint()
			if r.err != nil {
				break
			}
			e.Author, e.Op = f[ai].Author, uint32(op)
			if !e.Kind.IsData() || e.Seq == 0 || e.Seq > f[ai].Seq || op >= commit.MaxOps {
				r.fail("entry %d of %q: kind %d, seq %d, op %d out of range", j, key, e.Kind, e.Seq, op)
				break
			}
			if j > 0 && c.Entries[j-1].Version.Compare(e.Version) <= 0 {
				r.fail("entries of %q out of order", key)
				break
			}
			if !e.Erased {
				continue
			}
			plen := r.uvarint()
			if r.err == nil && (plen > commit.MaxValueSize || e.Kind == commit.KindDel && plen != 0) {
				r.fail("erased entry of %q: payload of %d bytes", key, plen)
			}
			e.PayloadLen = int(plen)
			if plen > 0 {
				if d := r.take(keys.Size); r.err == nil {
					e.PayloadDigest = keys.Digest(d)
				}
			} else {
				e.PayloadDigest = keys.PayloadHash.Sum1(nil)
			}
			bi, ok := r.author(f)
			seq := r.uvarint()
			t := commit.HLC{Wall: wall("erasure"), Logical: logical()}
			if !ok || r.err != nil {
				break
			}
			if seq == 0 || seq > f[bi].Seq {
				r.fail("erasure of %q by seq %d, past the frontier", key, seq)
				break
			}
			e.Erasure = store.Erasure{By: f[bi].Author, Seq: seq, Time: t}
		}
		if r.err != nil {
			break
		}
		cells = append(cells, c)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	again, err := encodeCells(indexOf(f), cells)
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: cells not in their canonical encoding (the base time is the least)", ErrMalformed)
	}
	return cells, nil
}

// DecodeCausal parses a causal section for frontier f: authors in
// frontier order, each with 1.. rows of strictly increasing seqs within f,
// each with 1.. gains of authors in strictly increasing order (other than
// the row's), seqs from 1 within f.
func DecodeCausal(b []byte, f []commit.FrontierHead) ([]store.GainRow, error) {
	r := &reader{b: b}
	n := r.count(4, uint64(len(f)), "authors")
	var rows []store.GainRow
	last := -1
	for range n {
		ai, ok := r.author(f)
		if ok && ai <= last {
			r.fail("authors out of order")
		}
		last = ai
		m := r.count(3, math.MaxUint32, "rows")
		if r.err == nil && m == 0 {
			r.fail("an author with no rows")
		}
		seq := uint64(0)
		for range m {
			d := r.uvarint()
			k := r.count(2, uint64(len(f)), "gains")
			if r.err != nil {
				break
			}
			seq += d
			if d == 0 || seq > f[ai].Seq || k == 0 {
				r.fail("row of %s seq %d: past the frontier, or no gains", f[ai].Author.Short(), seq)
				break
			}
			row := store.GainRow{Author: f[ai].Author, Seq: seq, Gains: make([]store.Gain, k)}
			gl := -1
			for g := range row.Gains {
				gi, ok := r.author(f)
				gs := r.uvarint()
				if !ok || r.err != nil {
					break
				}
				if gi <= gl || gi == ai || gs == 0 || gs > f[gi].Seq {
					r.fail("gain %d of %s seq %d out of order or past the frontier", g, f[ai].Author.Short(), seq)
					break
				}
				gl = gi
				row.Gains[g] = store.Gain{Author: f[gi].Author, Seq: gs}
			}
			rows = append(rows, row)
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return rows, nil
}

// DecodeACL parses an acl section: invalid commits in strictly increasing
// (author, seq) order with seqs from 1, cuts in strictly increasing author
// order, then, if any bytes are left, at least one tracked write, in
// strictly increasing (author, seq, key) order with seqs from 1 and keys
// of 1..commit.MaxKeySize bytes.
func DecodeACL(b []byte) (Decision, error) {
	r := &reader{b: b}
	var d Decision
	for part := range 2 {
		n := r.count(keys.Size+1, math.MaxUint32, "entries")
		ls := make([]acl.Loc, 0, n)
		for range n {
			a := r.take(keys.Size)
			seq := r.uvarint()
			if r.err != nil {
				break
			}
			l := acl.Loc{Author: keys.AuthorID(a), Seq: seq}
			if len(ls) > 0 {
				c := compareLoc(ls[len(ls)-1], l)
				if c >= 0 || part == 1 && ls[len(ls)-1].Author == l.Author {
					r.fail("acl entries out of order")
					break
				}
			}
			if part == 0 && seq == 0 {
				r.fail("an invalid commit of seq 0")
				break
			}
			ls = append(ls, l)
		}
		if part == 0 {
			d.Invalid = ls
		} else {
			d.Cuts = ls
		}
	}
	if r.err == nil && len(r.b) > 0 {
		d.Once = decodeOnce(r)
	}
	if err := r.end(); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// decodeOnce reads the tracked writes of an acl section (DecodeACL).
func decodeOnce(r *reader) []store.OnceWrite {
	n := r.count(keys.Size+3, math.MaxUint32, "tracked writes")
	if r.err == nil && n == 0 {
		r.fail("an empty list of tracked writes (left out when empty)")
	}
	ws := make([]store.OnceWrite, 0, min(n, 1<<12)) // grown as they decode: a forged count costs no memory up front
	for range n {
		a := r.take(keys.Size)
		seq := r.uvarint()
		kl := r.uvarint()
		if r.err == nil && (kl == 0 || kl > commit.MaxKeySize) {
			r.fail("a tracked write's key of %d bytes", kl)
		}
		if r.err != nil {
			break
		}
		w := store.OnceWrite{Key: bytes.Clone(r.take(kl)), Loc: acl.Loc{Author: keys.AuthorID(a), Seq: seq}}
		if r.err != nil {
			break
		}
		if seq == 0 || len(ws) > 0 && compareOnce(ws[len(ws)-1], w) >= 0 {
			r.fail("tracked writes out of order or of seq 0")
			break
		}
		ws = append(ws, w)
	}
	return ws
}
