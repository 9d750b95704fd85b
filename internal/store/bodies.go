package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/bodylog"
)

// Commit bodies live in the body log (package bodylog, in <dir>/bodies on
// the store's file system), not in Pebble, which would rewrite each in its
// log, flushes and compactions (docs/design.md, "The commit-body log").
//
// A commit row's value (tagCommit) is the commit's ID, a zero byte and the
// place of its record in the log (the new form), or the ID and the
// commit's bytes (the old form, written before: a CBOR commit never starts
// with a zero byte, so both read, and no row is converted). A record is the
// row's key, then the commit's bytes: reclaiming a segment reads the row
// its record names and keeps the record only if the row still names it
// (reclaim.go). Fork and off-chain rows (tagFork, tagOffchain) keep their
// bytes in Pebble: they are rare, and read with their key.
//
// The applier appends a commit's record when it sets its row in a batch,
// and commitBatch syncs the log before Pebble commits the batch: a crash
// between leaves records no row names, never a row naming a record lost.
// (A place handed out before a crash may be handed out again after it.)
// Every row that stops naming a record (an erase rewrites it, forget and
// install drop it, unfloor removes it) counts the record's bytes dead in
// its segment's row (tagBodyDead), and a segment whose dead bytes hold an
// erased record or half the segment is reclaimed (reclaim.go).

// recordKeySize is the length of the row key a record starts with.
const recordKeySize = 1 + 2*keys.Size + 8

// commitValueSize is the length of a commit row's value in the new form.
const commitValueSize = keys.Size + 1 + bodylog.PlaceSize

// appendCommitValue appends the new form of a commit row's value: ID, a
// zero byte, the place of the commit's record.
func appendCommitValue(dst []byte, id keys.CommitID, p bodylog.Place) []byte {
	dst = append(append(dst, id[:]...), 0)
	return bodylog.AppendPlace(dst, p)
}

// commitValue is a commit row's value, decoded.
type commitValue struct {
	ID     keys.CommitID
	Body   []byte        // the old form: the commit's bytes (a part of the value)
	Place  bodylog.Place // the new form: where its record is
	Logged bool          // the new form
}

// bodyLen is the length of the commit's bytes.
func (cv commitValue) bodyLen() int {
	if cv.Logged {
		return int(cv.Place.Len) - recordKeySize
	}
	return len(cv.Body)
}

// decodeCommitValue decodes the value of a commit row, either form.
func decodeCommitValue(v []byte) (commitValue, error) {
	if len(v) < keys.Size {
		return commitValue{}, fmt.Errorf("%w: commit row of %d bytes", ErrCorrupt, len(v))
	}
	cv := commitValue{ID: keys.CommitID(v[:keys.Size])}
	rest := v[keys.Size:]
	if len(rest) == 0 || rest[0] != 0 {
		cv.Body = rest
		return cv, nil
	}
	if len(v) != commitValueSize {
		return commitValue{}, fmt.Errorf("%w: commit row of %d bytes naming a record, want %d", ErrCorrupt, len(v), commitValueSize)
	}
	p, _, err := bodylog.DecodePlace(rest[1:])
	if err != nil {
		return commitValue{}, fmt.Errorf("%w: commit row: %v", ErrCorrupt, err)
	}
	if p.Len < recordKeySize {
		return commitValue{}, fmt.Errorf("%w: commit row naming a record of %d bytes, shorter than its key", ErrCorrupt, p.Len)
	}
	cv.Place, cv.Logged = p, true
	return cv, nil
}

// commitRow returns the ID and the bytes of the commit whose row is k with
// value v, read from the body log when the row names a record there (a
// new slice), or the part of v that holds them (the old form). Readers
// that need only the ID decode it with decodeCommitValue.
func (s *Store) commitRow(k, v []byte) (keys.CommitID, []byte, error) {
	cv, err := decodeCommitValue(v)
	if err != nil {
		return keys.CommitID{}, nil, err
	}
	b, err := s.commitBody(k, cv)
	return cv.ID, b, err
}

// commitBody returns the bytes of the commit whose row is k with the
// value cv, as commitRow does.
func (s *Store) commitBody(k []byte, cv commitValue) ([]byte, error) {
	if !cv.Logged {
		return cv.Body, nil
	}
	rec, err := s.bodies.Read(cv.Place, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: commit %x: %v", ErrCorrupt, k[1+keys.Size:], err)
	}
	if !bytes.Equal(rec[:recordKeySize], k) {
		return nil, fmt.Errorf("%w: commit row %x names the record of %x", ErrCorrupt, k[1+keys.Size:], rec[1+keys.Size:recordKeySize])
	}
	return rec[recordKeySize:], nil
}

// openBodies opens the body log in dir/bodies on fs.
func openBodies(fs vfs.FS, dir string, o bodylog.Options) (*bodylog.Log, error) {
	return bodylog.Open(fs, fs.PathJoin(dir, "bodies"), o)
}

// bodyWrites are a batch's writes to the body log: the commit rows it
// sets, whose records are appended bodyChunk bytes at a time (one write
// each, not one per commit) and the rows set once they have a place;
// and the dead bytes of the records its rows stopped naming.
type bodyWrites struct {
	pend   map[string]int           // row key -> its record in recs, not appended yet
	recs   [][]byte                 // row key ‖ commit bytes; nil: superseded before it was appended
	ids    []keys.CommitID          // the commit of each of recs
	size   int                      // the bytes of recs
	placed map[string]bodylog.Place // row key -> the record appended for it in this batch
	dead   deadBytes
}

// bodyChunk is how many bytes of records a batch holds before it appends
// them (Options.bodyChunk: tests make it small).
const bodyChunk = 1 << 20

// setCommitRow sets c's commit row in bc, naming c's record in the body
// log: the record is appended with the batch's others (flushBodies),
// before bc commits, and commitBatch syncs the log before Pebble's commit.
// Until then the row is not in bc's Pebble batch: the applier's reads of
// the commits of its batch go to byLoc and erasedC, never to the batch.
func (a *applier) setCommitRow(bc *batch, sp keys.SpaceID, c *commit.Commit) error {
	w := &bc.bodies
	k := commitKey(sp, c.Author, c.Seq)
	if i, ok := w.pend[string(k)]; ok {
		w.size -= len(w.recs[i])
		w.recs[i] = nil
	}
	raw := c.Bytes()
	rec := make([]byte, 0, len(k)+len(raw))
	rec = append(append(rec, k...), raw...)
	if w.pend == nil {
		w.pend = map[string]int{}
	}
	w.pend[string(k)] = len(w.recs)
	w.recs, w.ids = append(w.recs, rec), append(w.ids, c.ID)
	if w.size += len(rec); w.size >= a.s.bodyChunk {
		return a.flushBodies(bc.b, w)
	}
	return nil
}

// flushBodies appends w's pending records to the body log and sets the
// rows that name them in b.
func (a *applier) flushBodies(b *pebble.Batch, w *bodyWrites) error {
	if len(w.recs) == 0 {
		return nil
	}
	recs, ids := w.recs[:0], w.ids[:0]
	for i, r := range w.recs {
		if r != nil {
			recs, ids = append(recs, r), append(ids, w.ids[i])
		}
	}
	ps, err := a.s.bodies.Append(recs...)
	if err != nil {
		return a.bodiesFailed(fmt.Errorf("append %d commits: %w", len(recs), err))
	}
	a.unsynced = true
	if w.placed == nil {
		w.placed = map[string]bodylog.Place{}
	}
	var buf [commitValueSize]byte
	for i, p := range ps {
		k := recs[i][:recordKeySize]
		w.placed[string(k)] = p
		if err := b.Set(k, appendCommitValue(buf[:0], ids[i], p), nil); err != nil {
			return err
		}
	}
	clear(w.pend)
	clear(w.recs)
	w.recs, w.ids, w.size = w.recs[:0], w.ids[:0], 0
	return nil
}

// dropRecord counts dead the record that the commit row at k names, in
// the database or in bc, before bc rewrites or deletes the row (a record
// bc has not appended yet is not appended). erased: the record holds a
// payload an erase (or forgetting the space) removed, which must not stay
// on disk (reclaim.go).
func (a *applier) dropRecord(bc *batch, k []byte, erased bool) error {
	w := &bc.bodies
	if i, ok := w.pend[string(k)]; ok {
		w.size -= len(w.recs[i])
		w.recs[i] = nil
		delete(w.pend, string(k))
		return nil
	}
	if p, ok := w.placed[string(k)]; ok {
		w.dead.add(p, erased)
		delete(w.placed, string(k))
		return nil
	}
	v, closer, err := a.s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	cv, err := decodeCommitValue(v)
	closer.Close()
	if err != nil {
		return err
	}
	if cv.Logged {
		w.dead.add(cv.Place, erased)
	}
	return nil
}

// dropSpaceRecords counts dead, as erased, every record the commit rows of
// space sp name, before a batch deletes them.
func (a *applier) dropSpaceRecords(sp keys.SpaceID, dead deadBytes) error {
	p := spaceKey(tagCommit, sp)
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		cv, err := decodeCommitValue(it.Value())
		if err != nil {
			it.Close()
			return err
		}
		if cv.Logged {
			dead.add(cv.Place, true)
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// syncBodies makes the records appended durable before a batch that may
// name them commits (but with Options.NoSync: then the log is written,
// in order, and not synced).
func (a *applier) syncBodies() error {
	if !a.unsynced {
		return nil
	}
	if a.s.sync.Sync {
		if err := a.s.bodies.Sync(); err != nil {
			return a.bodiesFailed(err)
		}
	}
	a.unsynced = false
	return nil
}

// bodiesFailed breaks the applier after the body log failed a write or a
// sync: the log takes no more until it is opened again (bodylog), and, as
// for Pebble, a failed fsync may have lost what it was to make durable.
func (a *applier) bodiesFailed(err error) error {
	err = fmt.Errorf("store: the commit body log failed a write and takes no more until loam restarts (nothing acknowledged is lost): %w", err)
	if isNoSpace(err) {
		err = fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	a.broken = err
	return err
}

// segDead is what a segment's dead-bytes row (tagBodyDead) holds: the
// bytes of its records no row names any more, and whether one of them
// held an erased payload.
type segDead struct {
	bytes  int64
	erased bool
}

func (d segDead) encode() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9), uint64(d.bytes))
	if d.erased {
		return append(b, 1)
	}
	return append(b, 0)
}

// bodyDeadKey is the key of segment seg's dead-bytes row.
func bodyDeadKey(seg uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{tagBodyDead}, seg)
}

// decodeBodyDeadRow decodes a dead-bytes row (tagBodyDead).
func decodeBodyDeadRow(k, v []byte) (uint32, segDead, error) {
	if len(k) != 5 || len(v) != 9 || v[8] > 1 || v[0]&0x80 != 0 {
		return 0, segDead{}, fmt.Errorf("%w: body log dead-bytes row", ErrCorrupt)
	}
	return binary.BigEndian.Uint32(k[1:]), segDead{bytes: int64(binary.BigEndian.Uint64(v)), erased: v[8] == 1}, nil
}

// deadBytes are the dead bytes a batch adds, per segment.
type deadBytes map[uint32]segDead

// add counts the record at p dead.
func (d deadBytes) add(p bodylog.Place, erased bool) {
	x := d[p.Seg]
	x.bytes += int64(p.Len) + 8 // the record's length and checksum
	x.erased = x.erased || erased
	d[p.Seg] = x
}

// loadDead reads the segments' dead-bytes rows into a.segDead.
func (a *applier) loadDead() error {
	a.segDead = map[uint32]segDead{}
	p := []byte{tagBodyDead}
	it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		seg, d, err := decodeBodyDeadRow(it.Key(), it.Value())
		if err != nil {
			it.Close()
			return err
		}
		a.segDead[seg] = d
	}
	return errors.Join(it.Error(), it.Close())
}

// writeDead sets in b the dead-bytes rows of the segments dead adds to,
// and returns their new totals, for a.segDead once b is committed.
func (a *applier) writeDead(b *pebble.Batch, dead deadBytes) (map[uint32]segDead, error) {
	if len(dead) == 0 {
		return nil, nil
	}
	out := make(map[uint32]segDead, len(dead))
	for _, seg := range slices.Sorted(maps.Keys(dead)) {
		d, t := dead[seg], a.segDead[seg]
		t.bytes += d.bytes
		t.erased = t.erased || d.erased
		if err := b.Set(bodyDeadKey(seg), t.encode(), nil); err != nil {
			return nil, err
		}
		out[seg] = t
	}
	return out, nil
}
