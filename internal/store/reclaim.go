package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/bodylog"
)

// Reclaiming the body log (docs/design.md, "The commit-body log"). A
// segment is reclaimed when its dead bytes (bodies.go) hold an erased
// record or more than half the segment: the records rows still name are
// copied to the tail, the rows renamed in one batch (which also marks the
// whole segment dead, so that a crash before it is removed reclaims it
// again, finding nothing to copy), then the segment is removed once no
// reader holds a read state published before that batch (readstate.go).
// The tail is rotated first if it holds an erased record, reclaimTailAfter
// after the erase (at once when asked: ReclaimBodies); never for dead bytes
// alone. It all runs on the applier goroutine, between requests.

// reclaimTailAfter is how long an erased record may stay in the tail
// before the tail is rotated and reclaimed (Options.tailAfter: tests make
// it short): rotating at each erase would copy the tail's live records
// each time.
const reclaimTailAfter = time.Minute

// roomRecheck is how long reclaim waits to look again at the segments it
// left for lack of room.
const roomRecheck = 10 * time.Second

// reclaimChunk bounds the bytes of records copied per Append.
const reclaimChunk = 4 << 20

// removal is a segment reclaimed: it is removed once no reader holds a
// read state older than gen, the first published after its rows were
// renamed.
type removal struct {
	seg uint32
	gen uint64
}

// ReclaimBodies reclaims now every body log segment with dead bytes, the
// tail included (rotated first), and removes those no reader still reads
// (the others go once their readers are done). `loam compact` runs it.
// It runs on the applier, alone.
func (s *Store) ReclaimBodies(ctx context.Context) error {
	_, err := s.submit(&request{reclaim: true, reply: make(chan reply, 1)}).Wait(ctx)
	return err
}

// tailWait fires when the applier should look at the log's tail again
// (nil: never, it holds no erased record waiting).
func (a *applier) tailWait() <-chan time.Time {
	if a.tailDue.IsZero() {
		return nil
	}
	return time.After(time.Until(a.tailDue))
}

// reclaim removes the segments reclaimed that no reader reads any more,
// then reclaims the segments due (all with dead bytes, the tail included,
// if all). A failure leaves the rest for the next call.
func (a *applier) reclaim(all bool) error {
	if h := a.s.reclaimHook.Load(); h != nil && *h != nil {
		(*h)() // tests
	}
	a.reclaimMore = false
	if a.broken != nil || a.s.readOnly {
		// Nothing is written until Open again (or until the disk has
		// room: reopen, which asks for a reclaim); the tail's timer would
		// fire at once each turn.
		a.tailDue, a.reclaimNeeded = time.Time{}, false
		if a.broken == nil && all {
			return fmt.Errorf("%w: the store is open read-only for lack of space: the commit body log is reclaimed once there is room", ErrDiskFull)
		}
		return a.broken
	}
	if a.segDead == nil {
		if err := a.loadDead(); err != nil {
			return err
		}
	}
	if err := a.removeReclaimed(); err != nil {
		return err
	}
	if len(a.segDead) == 0 {
		a.tailDue = time.Time{}
		return nil
	}
	sizes := map[uint32]int64{}
	for _, si := range a.s.bodies.Segments() {
		sizes[si.Seg] = si.Size
	}
	tail := a.s.bodies.Tail()
	a.tailDue = time.Time{}
	if d := a.segDead[tail]; !d.erased {
		a.tailErased = time.Time{}
	} else if a.tailErased.IsZero() {
		a.tailErased = time.Now()
	}
	var gone []uint32 // rows of segments removed before a crash
	var failed []error
	waiting := 0 // segments due, left for lack of room
	// The segments with the fewest live bytes first: they need the least
	// room to copy, and free the most.
	segs := slices.SortedFunc(maps.Keys(a.segDead), func(x, y uint32) int {
		return cmp.Or(cmp.Compare(sizes[x]-a.segDead[x].bytes, sizes[y]-a.segDead[y].bytes), cmp.Compare(x, y))
	})
	for _, seg := range segs {
		d := a.segDead[seg]
		size, ok := sizes[seg]
		switch {
		case !ok:
			gone = append(gone, seg)
			continue
		case a.removing(seg) || d.bytes == 0:
			continue
		case !all && !d.erased && 2*d.bytes <= size:
			continue
		case !a.s.disk.room(uint64(max(0, size-d.bytes))):
			// Copying its live records could fill the disk, and a write
			// the body log fails stops the applier: later, once a forget
			// or a reclaim freed room (a segment all dead needs none).
			waiting++
			continue
		}
		if seg == tail {
			if !all && !d.erased {
				continue
			}
			if !all && time.Since(a.tailErased) < a.s.tailAfter {
				a.tailDue = a.tailErased.Add(a.s.tailAfter)
				continue
			}
			if err := a.s.bodies.Rotate(); err != nil {
				return a.bodiesFailed(err)
			}
			a.tailErased = time.Time{}
		}
		if err := a.reclaimSegment(seg, size, d); err != nil {
			if a.broken != nil {
				return err
			}
			// One segment that does not read (a record bit rot spoilt)
			// must not keep the others, and their erased payloads.
			failed = append(failed, err)
			continue
		}
		if !all {
			// One segment (up to 64 MiB copied) per turn: requests are
			// served between (a retention pass can make many due).
			a.reclaimMore = true
			break
		}
	}
	if len(gone) > 0 {
		b := a.s.db.NewBatch()
		defer b.Close()
		for _, seg := range gone {
			if err := b.Delete(bodyDeadKey(seg), nil); err != nil {
				return err
			}
		}
		if err := a.commitBatch(b, nil); err != nil {
			return err
		}
		for _, seg := range gone {
			delete(a.segDead, seg)
		}
	}
	if a.roomWait = waiting > 0; a.roomWait {
		// Look again in a while: room may come without a commit.
		if due := time.Now().Add(roomRecheck); a.tailDue.IsZero() || a.tailDue.After(due) {
			a.tailDue = due
		}
		if all {
			failed = append(failed, fmt.Errorf("%w: %d segments of the commit body log hold erased or dead records and wait for room to be reclaimed: free space on that disk, then compact again", ErrDiskFull, waiting))
		}
	}
	return errors.Join(errors.Join(failed...), a.removeReclaimed())
}

func (a *applier) removing(seg uint32) bool {
	return slices.ContainsFunc(a.removals, func(r removal) bool { return r.seg == seg })
}

// reclaimSegment copies the records of segment seg (size bytes, d dead)
// that rows still name to the tail, and renames the rows in one batch,
// which marks the segment all dead. The segment is removed later
// (removeReclaimed).
func (a *applier) reclaimSegment(seg uint32, size int64, d segDead) error {
	b := a.s.db.NewBatch()
	defer b.Close()
	w := &bodyWrites{placed: map[string]bodylog.Place{}} // the copies, which its rows name
	var recs [][]byte
	var ids []keys.CommitID
	n := 0
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		ps, err := a.appendBodies(recs)
		if err != nil {
			return a.bodiesFailed(err)
		}
		var buf [commitValueSize]byte
		for i, p := range ps {
			k := recs[i][:recordKeySize]
			w.placed[string(k)] = p
			if err := b.Set(k, appendCommitValue(buf[:0], ids[i], p), nil); err != nil {
				return err
			}
		}
		recs, ids, n = recs[:0], ids[:0], 0
		return nil
	}
	err := a.s.bodies.Scan(seg, func(p bodylog.Place, rec []byte) error {
		if len(rec) < recordKeySize || rec[0] != tagCommit {
			return nil // no row names it
		}
		cv, ok, err := a.s.liveCommitValue(rec[:recordKeySize])
		if err != nil || !ok {
			return err
		}
		if !cv.Logged || cv.Place != p {
			return nil // dead: the row names another record, or holds the bytes
		}
		recs, ids = append(recs, bytes.Clone(rec)), append(ids, cv.ID)
		if n += len(rec); n >= reclaimChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("store: reclaim body segment %d: %w", seg, err)
	}
	all := segDead{bytes: size, erased: d.erased}
	if err := b.Set(bodyDeadKey(seg), all.encode(), nil); err != nil {
		return err
	}
	if err := a.commitBatch(b, w); err != nil {
		return fmt.Errorf("store: reclaim body segment %d: %w", seg, err)
	}
	a.segDead[seg] = all
	a.removals = append(a.removals, removal{seg: seg, gen: a.s.readGen()})
	return nil
}

// removeReclaimed removes the segments reclaimed that no reader can read
// any more, and their dead-bytes rows.
func (a *applier) removeReclaimed() error {
	var done []uint32
	keep := a.removals[:0]
	synced := a.s.sync.Sync
	for _, r := range a.removals {
		if !a.s.readersSince(r.gen) {
			keep = append(keep, r)
			continue
		}
		if !synced {
			// With Options.NoSync neither the copies nor the batch that
			// renamed the segment's rows to them may be durable: a power
			// cut must not keep the removal and lose either.
			if err := a.s.bodies.Sync(); err != nil {
				return a.bodiesFailed(err)
			}
			if err := a.s.db.LogData(nil, pebble.Sync); err != nil {
				return err
			}
			synced = true
		}
		if err := a.s.bodies.Remove(r.seg); err != nil {
			keep = append(keep, r)
			continue
		}
		done = append(done, r.seg)
	}
	a.removals = keep
	if len(done) == 0 {
		return nil
	}
	b := a.s.db.NewBatch()
	defer b.Close()
	for _, seg := range done {
		if err := b.Delete(bodyDeadKey(seg), nil); err != nil {
			return err
		}
	}
	if err := a.commitBatch(b, nil); err != nil {
		return err
	}
	for _, seg := range done {
		delete(a.segDead, seg)
	}
	return nil
}
