package store

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// Erase targets (session 13). An app rule does not check the value of a
// write that an erase op of a commit held names, counting or not
// (acl.ruleOp): such a value may be gone from some replicas and held by
// others (an erase voided by a concurrent revocation drops it where it
// was applied first), and a check made on it would then decide
// differently on each. So the store records the ops every stored erase
// op names (tagEraseTarget: space ‖ commit ID ‖ op), whether its commit
// counts or not, and its decision state asks them (acl.State.SetErasing).
// An erase stored after a write it names that does not count decides the
// space again: the write may count now.

// tagEraseTarget: the ops named by the erase ops of the stored commits,
// counting or not.
const tagEraseTarget byte = 0x25

func eraseTargetKey(sp keys.SpaceID, t acl.EraseTarget) []byte {
	return spaceKey(tagEraseTarget, sp, t.ID[:], binary.BigEndian.AppendUint32(nil, t.Op))
}

// watchErasing links st's decision state to st's erase targets.
func (st *spaceState) watchErasing() {
	st.valid.SetErasing(func(id keys.CommitID, op uint32) bool { return st.erasing[acl.EraseTarget{ID: id, Op: op}] })
}

// loadErasing reads a space's erase targets into st.
func (s *Store) loadErasing(ctx context.Context, st *spaceState) error {
	m, err := s.EraseTargets(ctx, st.id)
	if err != nil {
		return err
	}
	st.erasing = m
	return nil
}

// EraseTargets returns the ops that the erase ops of sp's stored commits
// name, counting or not: the writes whose values app rules do not check.
func (s *Store) EraseTargets(ctx context.Context, sp keys.SpaceID) (map[acl.EraseTarget]bool, error) {
	var e err0
	out := map[acl.EraseTarget]bool{}
	p := spaceKey(tagEraseTarget, sp)
	for k := range s.scan(ctx, p, false, &e) {
		if len(k) != len(p)+keys.Size+4 {
			return nil, fmt.Errorf("%w: erase target row %x", ErrCorrupt, k)
		}
		out[acl.EraseTarget{ID: keys.CommitID(k[len(p):]), Op: binary.BigEndian.Uint32(k[len(p)+keys.Size:])}] = true
	}
	return out, e.err
}

// noteErasing records the ops c's erase ops name (c is being stored,
// counting or not). If one of them is of a stored commit that does not
// count, the space is decided again after the batch: an app rule may have
// refused it for its value, which is no longer checked.
func (a *applier) noteErasing(bc *batch, st *spaceState, c *commit.Commit) error {
	for _, t := range acl.EraseTargets(c) {
		et := acl.EraseTarget{ID: t.ID, Op: t.Op}
		if st.erasing[et] {
			continue
		}
		if err := bc.b.Set(eraseTargetKey(st.id, et), nil, nil); err != nil {
			return err
		}
		st.erasing[et] = true
		if st.invalid[acl.Loc{Author: t.Author, Seq: t.Seq}] {
			// Decided whole: the fast path from a revocation's cut
			// (redecide.go) would not look at the write again.
			st.view.redecide = true
			bc.rebuild[st.id] = true
			bc.forced[st.id] = true
		}
	}
	return nil
}
