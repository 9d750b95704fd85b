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

// getCommit reads the commit row at k and the commit's bytes under one
// read state, so that no reclaim removes the record in between (a read
// state holds the segments its rows name: reclaim.go). It returns
// pebble.ErrNotFound when no row is at k.
func (s *Store) getCommit(k []byte) (keys.CommitID, []byte, error) {
	r, err := s.acquire()
	if err != nil {
		return keys.CommitID{}, nil, err
	}
	defer s.release(r)
	v, closer, err := r.snap.Get(k)
	if err != nil {
		return keys.CommitID{}, nil, err
	}
	defer closer.Close()
	cv, err := decodeCommitValue(v)
	if err != nil {
		return keys.CommitID{}, nil, err
	}
	if h := s.readHook.Load(); h != nil && *h != nil {
		(*h)() // tests: between the row and the body
	}
	b, err := s.commitBody(k, cv)
	if !cv.Logged {
		b = bytes.Clone(b) // a part of v, valid until closer.Close
	}
	return cv.ID, b, err
}

// commitBody returns the bytes of the commit whose row is k with the
// value cv, as commitRow does.
func (s *Store) commitBody(k []byte, cv commitValue) ([]byte, error) {
	if !cv.Logged {
		return cv.Body, nil
	}
	rec, err := s.bodies.Read(cv.Place, nil)
	if errors.Is(err, bodylog.ErrCorrupt) {
		return nil, fmt.Errorf("%w: commit %x: %v", ErrCorrupt, k[1+keys.Size:], err)
	}
	if err != nil { // the log closed, an I/O error: not the record's fault
		return nil, fmt.Errorf("store: commit %x: %w", k[1+keys.Size:], err)
	}
	if !bytes.Equal(rec[:recordKeySize], k) {
		return nil, fmt.Errorf("%w: commit row %x names the record of %x", ErrCorrupt, k[1+keys.Size:], rec[1+keys.Size:recordKeySize])
	}
	return rec[recordKeySize:], nil
}

// bodyLogOptions are the body log's options: read-only while the store
// is (a full disk: the log must not even cut a torn tail then).
func (s *Store) bodyLogOptions() bodylog.Options {
	o := s.bodyOpts
	o.ReadOnly = s.readOnly
	return o
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
	ps, err := a.appendBodies(recs)
	if err != nil {
		return a.bodiesFailed(fmt.Errorf("append %d commits: %w", len(recs), err))
	}
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
	if _, ok := w.placed[string(k)]; ok {
		delete(w.placed, string(k)) // named by no row: counted when bc commits (orphans)
		return nil
	}
	cv, ok, err := a.s.liveCommitValue(k)
	if ok && cv.Logged {
		w.dead.add(cv.Place, erased)
	}
	return err
}

// liveCommitValue reads the commit row at k from the database itself (not
// a read state: for the applier, and tests between its groups); ok is
// false when there is none.
func (s *Store) liveCommitValue(k []byte) (commitValue, bool, error) {
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return commitValue{}, false, nil
	}
	if err != nil {
		return commitValue{}, false, err
	}
	defer closer.Close()
	cv, err := decodeCommitValue(v)
	return cv, err == nil, err
}

// Orphans. A record that no row names and no dead-bytes row counts would
// keep its bytes for good, and an erased payload with them if its commit
// is stored again and erased: reclaim looks only at counted bytes. A
// record is left so when the batch that appended it does not commit (a
// request that fails part-way, whose batch is dropped and the others
// applied again; a failed reclaim or commit; a crash between the log's
// sync and Pebble's commit), or when a later write of the same batch
// supersedes it. So the applier keeps the places it appended since the
// last commit (sinceCommit), and each commit counts dead, as erased to be
// safe, those its rows do not name, and sets the log's end (tagBodyEnd).
// On open, what lies past that end is counted the same way: only a crash
// leaves records there.

// bodyEndKey is the key of the row holding the log's end as of the last
// batch that appended to it: the tail's number (4 bytes) and size (8).
var bodyEndKey = []byte{tagBodyEnd}

func bodyEndValue(seg uint32, off int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(make([]byte, 0, 12), seg), uint64(off))
}

func decodeBodyEnd(v []byte) (uint32, int64, error) {
	if len(v) != 12 || v[4]&0x80 != 0 {
		return 0, 0, fmt.Errorf("%w: body log end row of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint32(v), int64(binary.BigEndian.Uint64(v[4:])), nil
}

// appendBodies appends recs to the body log and notes their places until
// the next commit (orphans, above).
func (a *applier) appendBodies(recs [][]byte) ([]bodylog.Place, error) {
	ps, err := a.s.bodies.Append(recs...)
	if err != nil {
		return nil, err
	}
	a.unsynced = true
	a.sinceCommit = append(a.sinceCommit, ps...)
	return ps, nil
}

// orphansOf counts dead, in dead, the records appended since the last
// commit that w (nil: none) does not name, and sets the log's end in b,
// when anything was appended or markEnd is set. It returns dead, made if
// it was nil and there are some.
func (a *applier) orphansOf(b *pebble.Batch, w *bodyWrites, dead deadBytes) (deadBytes, error) {
	if len(a.sinceCommit) == 0 && !a.markEnd {
		return dead, nil
	}
	named := map[bodylog.Place]bool{}
	if w != nil {
		for _, p := range w.placed {
			named[p] = true
		}
	}
	for _, p := range a.sinceCommit {
		if !named[p] {
			if dead == nil {
				dead = deadBytes{}
			}
			dead.add(p, true)
		}
	}
	return dead, b.Set(bodyEndKey, bodyEndValue(a.s.bodies.End()), nil)
}

// loadOrphans counts dead, as erased, what the body log holds past the
// end the last committed batch set (a crash after the log's sync and
// before Pebble's commit), for the first commit to write.
func (a *applier) loadOrphans() error {
	v, closer, err := a.s.db.Get(bodyEndKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil // nothing appended yet
	}
	if err != nil {
		return err
	}
	seg, off, err := decodeBodyEnd(v)
	closer.Close()
	if err != nil {
		return err
	}
	for _, si := range a.s.bodies.Segments() {
		var n int64
		switch {
		case si.Seg == seg:
			n = si.Size - off
		case si.Seg > seg:
			n = si.Records()
		}
		if n > 0 {
			if a.crashOrphans == nil {
				a.crashOrphans = deadBytes{}
			}
			a.crashOrphans.addBytes(si.Seg, n)
			a.markEnd = true
		}
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

// addBytes counts n bytes of records of segment seg dead, as erased.
func (d deadBytes) addBytes(seg uint32, n int64) {
	x := d[seg]
	x.bytes += n
	x.erased = true
	d[seg] = x
}

// loadDead reads the segments' dead-bytes rows into a.segDead, which is
// left nil when they do not read (writeDead then refuses to write).
func (a *applier) loadDead() error {
	a.segDead = nil
	m := map[uint32]segDead{}
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
		m[seg] = d
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	a.segDead = m
	return nil
}

// writeDead sets in b the dead-bytes rows of the segments dead adds to,
// and returns their new totals, for a.segDead once b is committed.
func (a *applier) writeDead(b *pebble.Batch, dead deadBytes) (map[uint32]segDead, error) {
	if len(dead) == 0 {
		return nil, nil
	}
	if a.segDead == nil {
		// The totals would be counted from nothing and overwrite the rows
		// with less: read them first.
		if err := a.loadDead(); err != nil {
			return nil, fmt.Errorf("store: body log dead-bytes rows: %w", err)
		}
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
