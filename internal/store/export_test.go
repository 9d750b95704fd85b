package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/bodylog"
)

// SetHook makes the applier call h at named points: "group" before it
// processes a group of requests (an error there panics: use it to block),
// "stored" after it wrote commit c's rows into the batch and before its
// ops, "rebuild" before it decides a space again after a group commit,
// "bodies synced" after it synced the body log and before Pebble commits
// a batch.
// A non-nil error is injected there as a storage failure. Set it before
// submitting the requests it concerns.
func SetHook(s *Store, h func(point string, c *commit.Commit) error) { s.hook.Store(&h) }

// SetReclaimHook makes the applier call h each time it looks at the body
// log's segments to reclaim them (after a request's reply: h runs
// concurrently with the test, on the applier goroutine).
func SetReclaimHook(s *Store, h func()) { s.reclaimHook.Store(&h) }

// SetReadHook makes the readers of one commit (CommitByID, SyncHeads,
// Controls) call h between reading its row and its body.
func SetReadHook(s *Store, h func()) { s.readHook.Store(&h) }

// RawKeys returns every key in s's database, for tests that check what a
// space leaves behind.
func RawKeys(s *Store) ([][]byte, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out [][]byte
	for it.First(); it.Valid(); it.Next() {
		out = append(out, append([]byte(nil), it.Key()...))
	}
	return out, it.Error()
}

// WithBodySegments returns o with the body log's segments of size bytes,
// and batches that append their records 4 KiB at a time.
func WithBodySegments(o Options, size int64) Options {
	o.bodyLog.SegmentSize = size
	o.bodyChunk = 4 << 10
	return o
}

// WithTailAfter returns o with an erased record reclaimed from the body
// log's tail after d rather than a minute.
func WithTailAfter(o Options, d time.Duration) Options {
	o.tailAfter = d
	return o
}

// CommitSegment returns the body log segment holding the record that the
// commit row of (sp, author, seq) names.
func CommitSegment(s *Store, sp keys.SpaceID, author keys.AuthorID, seq uint64) (uint32, error) {
	v, err := s.get(commitKey(sp, author, seq))
	if err != nil {
		return 0, err
	}
	cv, err := decodeCommitValue(v)
	if err != nil {
		return 0, err
	}
	if !cv.Logged {
		return 0, errors.New("the row holds the commit's bytes")
	}
	return cv.Place.Seg, nil
}

// BodySegments lists the body log's segments.
func BodySegments(s *Store) []bodylog.SegInfo { return s.bodies.Segments() }

// CommitRowForms counts the commit rows naming a record in the body log
// and those holding the commit's bytes (the form written before).
func CommitRowForms(s *Store) (logged, old int, err error) {
	p := []byte{tagCommit}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		cv, err := decodeCommitValue(it.Value())
		if err != nil {
			return 0, 0, err
		}
		if cv.Logged {
			logged++
		} else {
			old++
		}
	}
	return logged, old, it.Error()
}

// ToOldRows rewrites every commit row to the form written before the body
// log (ID, then the commit's bytes), as a store written before it holds,
// and shows readers the result. Call it while no request is in progress.
func ToOldRows(s *Store) (int, error) {
	p := []byte{tagCommit}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		id, body, err := s.commitRow(it.Key(), it.Value())
		if err != nil {
			it.Close()
			return 0, err
		}
		if err := b.Set(it.Key(), append(id[:], body...), nil); err != nil {
			it.Close()
			return 0, err
		}
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, err
	}
	s.publish()
	return n, nil
}

// SetBatchSeen makes the applier call fn with each batch it is about to
// commit. Set it before submitting the requests it concerns.
func SetBatchSeen(s *Store, fn func(b *pebble.Batch)) { s.batchSeen = fn }

// DBMetrics returns Pebble's metrics of s's database.
func DBMetrics(s *Store) *pebble.Metrics { return s.db.Metrics() }

// TagNames names the row kinds by their tag, for the benchmarks' metrics.
var TagNames = map[byte]string{
	tagMeta: "meta", tagName: "name", tagCommit: "commit", tagCommitID: "commitid",
	tagHead: "head", tagVV: "vv", tagFork: "fork", tagPast: "past",
	tagOffchain: "offchain", tagGrant: "grant", tagInvalid: "invalid", tagCut: "cut",
	tagRotation: "rotation", tagHistory: "history", tagErased: "erased", tagPolicy: "policy",
	tagSchema: "schema", tagCell: "cell", tagViewState: "viewstate", tagLost: "lost",
	tagFloor: "floor", tagDeadCell: "deadcell", tagOnce: "once",
	tagAuthorNum: "authornum", tagGains: "gains",
	tagRevoking: "revoking", tagDead: "dead", tagIncr: "incr",
}

// Accounting compares, per body log segment, the dead bytes its row counts
// with the bytes of its records that no commit row names. It returns a
// description of each segment where they differ (a segment reclaimed and
// waiting for removal, counted whole, is skipped). Call it while the
// applier is idle (from the "group" hook).
func Accounting(s *Store) ([]string, error) {
	counted := map[uint32]int64{}
	p := []byte{tagBodyDead}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		seg, d, err := decodeBodyDeadRow(it.Key(), it.Value())
		if err != nil {
			it.Close()
			return nil, err
		}
		counted[seg] = d.bytes
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, err
	}
	var out []string
	for _, si := range s.bodies.Segments() {
		var named int64
		err := s.bodies.Scan(si.Seg, func(pl bodylog.Place, rec []byte) error {
			if len(rec) < recordKeySize || rec[0] != tagCommit {
				return nil
			}
			cv, ok, err := s.liveCommitValue(rec[:recordKeySize])
			if err != nil || !ok {
				return err
			}
			if cv.Logged && cv.Place == pl {
				named += int64(pl.Len) + 8
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		actual := si.Records() - named
		c := counted[si.Seg]
		if c == si.Size && named == 0 {
			continue // reclaimed, waiting for removal
		}
		if c != actual {
			out = append(out, fmt.Sprintf("segment %d (%d bytes): %d dead bytes counted, %d bytes of records no row names", si.Seg, si.Size, c, actual))
		}
	}
	return out, nil
}

// BodyEnd returns the body log's end row as the database holds it, and the log's end.
func BodyEnd(s *Store) string {
	v, closer, err := s.db.Get(bodyEndKey)
	if err != nil {
		return err.Error()
	}
	defer closer.Close()
	seg, off, _ := decodeBodyEnd(v)
	return fmt.Sprintf("row (%d, %d), segments %v", seg, off, s.bodies.Segments())
}
