package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Retention (#14). A retention op (commit.KindRetention, admin of the
// whole space) sets how long replicas keep the payloads of superseded and
// deleted writes. The policy in force is the retention op that counts
// with the greatest version (time, author, seq, op): a row (tag 0x1d) the
// view keeps, rebuilt with it. Each replica applies it by itself
// (DropSuperseded, run by the node): it erases the payloads of the writes
// its superseded-writes index names, once old enough, as an erase op
// would, but locally, with no op: every replica computes the same set from
// the same commits. A blind seeder of a private space has no index (it
// cannot read keys) and keeps them.

// policyKey holds a space's retention policy in force.
func policyKey(sp keys.SpaceID) []byte { return spaceKey(tagPolicy, sp) }

const policyRowSize = 8 + 4 + keys.Size + 8 + 4 + 1 + 8

func encodePolicy(v view.Version, r commit.Retention) []byte {
	b := make([]byte, 0, policyRowSize)
	b = binary.BigEndian.AppendUint64(b, v.Time.Wall)
	b = binary.BigEndian.AppendUint32(b, v.Time.Logical)
	b = append(b, v.Author[:]...)
	b = binary.BigEndian.AppendUint64(b, v.Seq)
	b = binary.BigEndian.AppendUint32(b, v.Op)
	b = append(b, byte(r.Mode))
	return binary.BigEndian.AppendUint64(b, uint64(r.After/time.Microsecond))
}

func decodePolicy(b []byte) (view.Version, commit.Retention, error) {
	if len(b) != policyRowSize {
		return view.Version{}, commit.Retention{}, fmt.Errorf("%w: retention row", ErrCorrupt)
	}
	var v view.Version
	v.Time.Wall = binary.BigEndian.Uint64(b)
	v.Time.Logical = binary.BigEndian.Uint32(b[8:])
	copy(v.Author[:], b[12:])
	v.Seq = binary.BigEndian.Uint64(b[12+keys.Size:])
	v.Op = binary.BigEndian.Uint32(b[20+keys.Size:])
	r := commit.Retention{Mode: commit.RetentionMode(b[24+keys.Size]), After: time.Duration(binary.BigEndian.Uint64(b[25+keys.Size:])) * time.Microsecond}
	return v, r, r.Validate()
}

// applyRetention applies retention op i of c, which counts: it becomes the
// policy if it is the latest.
func (a *applier) applyRetention(bc *batch, st *spaceState, c *commit.Commit, i int) error {
	r, err := commit.DecodeRetention(c.Ops[i])
	if err != nil {
		return nil // ignored, as acl ignores it
	}
	v := view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(i)}
	cur, ok := bc.policy[st.id]
	if !ok && !bc.fresh[st.id] {
		b, err := a.s.get(policyKey(st.id))
		switch {
		case errors.Is(err, pebble.ErrNotFound):
		case err != nil:
			return err
		default:
			cur = b
		}
	}
	if cur != nil {
		if old, _, err := decodePolicy(cur); err == nil && old.Compare(v) >= 0 {
			return nil
		}
	}
	row := encodePolicy(v, r)
	bc.policy[st.id] = row
	return bc.b.Set(policyKey(st.id), row, nil)
}

// Retention returns the retention policy in force in sp (KeepHistory if
// none was set).
func (s *Store) Retention(ctx context.Context, sp keys.SpaceID) (commit.Retention, error) {
	b, err := s.get(policyKey(sp))
	if errors.Is(err, pebble.ErrNotFound) {
		return commit.Retention{}, nil
	}
	if err != nil {
		return commit.Retention{}, err
	}
	_, r, err := decodePolicy(b)
	return r, err
}

// DropSuperseded erases, here, the payloads of at most max superseded or
// deleted writes of sp written before before, as retention asks; it
// returns how many it erased (fewer than max: there are no more) and the
// blobs they referenced (Result.Erased). It runs on the applier, alone.
func (s *Store) DropSuperseded(ctx context.Context, sp keys.SpaceID, before time.Time, max int) (Result, error) {
	return s.submit(&request{space: sp, retain: &retainRequest{before: uint64(before.UnixMicro()), max: max}, reply: make(chan reply, 1)}).Wait(ctx)
}

type retainRequest struct {
	before uint64 // µs: writes at or after it are kept
	max    int
}

func (a *applier) retain(r *request) {
	res, err := a.dropSuperseded(r.space, r.retain)
	if err == nil && a.s.notify != nil && len(res.Erased) > 0 {
		a.s.notify(Event{Space: r.space, Erased: res.Erased})
	}
	r.reply <- reply{res: res, err: err}
}

func (a *applier) dropSuperseded(sp keys.SpaceID, rr *retainRequest) (Result, error) {
	if a.broken != nil {
		return Result{}, a.broken
	}
	if _, err := a.s.get(spaceKey(tagMeta, sp)); errors.Is(err, pebble.ErrNotFound) {
		return Result{}, fmt.Errorf("%w %s", ErrUnknownSpace, sp)
	}
	bc := a.newBatch()
	defer func() { bc.b.Close() }()
	// Every row is read (the index is in key order, not time order) until
	// max writes are erased; the caller asks again for more.
	var res Result
	var e err0
	for k, v := range a.s.scan(context.Background(), spaceKey(tagHistory, sp), false, &e) {
		if len(res.Erased) == rr.max {
			break
		}
		h, ok := decodeHistoryRow(k, v)
		if !ok {
			return Result{}, fmt.Errorf("%w: superseded-write row %x", ErrCorrupt, k)
		}
		if h.wall >= rr.before {
			continue // kept for now
		}
		row := bytes.Clone(k)
		id, err := a.idAt(bc, sp, h.au, h.seq)
		if errors.Is(err, ErrBelowFloor) {
			// A write of a dead base entry, superseded after the
			// checkpoint: its payload was never held here.
			if err := bc.b.Delete(row, nil); err != nil {
				return Result{}, err
			}
			continue
		}
		if err != nil {
			return Result{}, err
		}
		c, ok := bc.erasedC[id]
		if !ok {
			if c, err = a.mainCommit(bc, sp, h.au, h.seq); err != nil {
				return Result{}, err
			}
		}
		if int(h.op) >= len(c.Ops) || c.Ops[h.op].Erased || !c.Ops[h.op].Kind.Erasable() {
			if err := bc.b.Delete(row, nil); err != nil { // erased already: the row has done its work
				return Result{}, err
			}
			if err := bc.b.Set(deadRow(row), retainedDead(c, h.op), nil); err != nil { // still superseded (redecide.go)
				return Result{}, err
			}
			continue
		}
		done := ErasedOp{Author: h.au, Seq: h.seq, Op: h.op}
		if o := &c.Ops[h.op]; o.Kind == commit.KindPutBlob {
			done.Blob = bytes.Clone(o.Payload)
		}
		erased, err := c.Erase(int(h.op))
		if err != nil {
			return Result{}, fmt.Errorf("%w: retention: %v", ErrCorrupt, err)
		}
		if err := a.rewrite(bc, sp, erased, true); err != nil {
			return Result{}, err
		}
		if err := bc.b.Delete(row, nil); err != nil {
			return Result{}, err
		}
		if err := bc.b.Set(deadRow(row), retainedDead(c, h.op), nil); err != nil { // still superseded, now erased (redecide.go)
			return Result{}, err
		}
		res.Erased = append(res.Erased, done)
	}
	if e.err != nil {
		return Result{}, e.err
	}
	if err := a.commitBatch(bc.b, &bc.bodies); err != nil {
		return Result{}, fmt.Errorf("store: retention: %w", err)
	}
	return res, nil
}

// retainedDead is the dead row's value (deadValue) of op i of c, erased
// by retention: as the write stood in its cell once erased.
func retainedDead(c *commit.Commit, i uint32) []byte {
	e := view.Entry{Version: view.Version{Time: c.Time}, Kind: commit.KindPut, Erased: true}
	if int(i) < len(c.Ops) {
		o := &c.Ops[i]
		e.Kind, e.Erased = o.Kind, o.Erased || o.Kind.Erasable()
	}
	return deadValue(&e)
}
