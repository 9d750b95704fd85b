package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/keys"
)

// spaceTags are the tables whose rows of a space start with
// spaceKey(tag, space): everything of a space but its name row.
// TestForgetLeavesNothing fails when a table is missing here.
var spaceTags = []byte{
	tagMeta, tagCommit, tagCommitID, tagHead, tagVV, tagFork, tagPast, tagOffchain,
	tagGrant, tagInvalid, tagCut, tagCell, tagViewState, tagRotation,
	tagHistory, tagErased, tagPolicy, tagSchema, tagLost, tagFloor, tagDeadCell,
	tagOnce, tagAuthorNum, tagGains,
	tagRevoking, tagDead, tagIncr, tagEraseTarget,
}

// Forget removes a space and everything stored of it, durably, and frees
// its local name: as if it had never been added. It is how a join that
// failed leaves nothing behind. The applier runs it alone, between group
// commits, so no commit of the space can be half applied around it; a
// later Apply to the space fails with ErrUnknownSpace until it is added
// again. Forgetting a space not held fails with ErrUnknownSpace.
func (s *Store) Forget(ctx context.Context, id keys.SpaceID) error {
	_, err := s.submit(&request{space: id, forget: true, reply: make(chan reply, 1)}).Wait(ctx)
	return err
}

// forget runs a Forget request on the applier goroutine and replies.
func (a *applier) forget(r *request) {
	err := a.forgetSpace(r.space)
	if err == nil {
		delete(a.spaces, r.space)
	} else if !errors.Is(err, ErrUnknownSpace) {
		a.spaces = map[keys.SpaceID]*spaceState{} // as after a failed group commit
	}
	r.reply <- reply{err: err}
}

func (a *applier) forgetSpace(id keys.SpaceID) error {
	if a.broken != nil {
		return a.broken
	}
	info, err := a.s.Space(context.Background(), id)
	if err != nil {
		return err
	}
	dead := deadBytes{}
	if err := a.dropSpaceRecords(id, dead); err != nil {
		return fmt.Errorf("store: forget %s: %w", id, err)
	}
	b := a.s.db.NewBatch()
	defer b.Close()
	for _, tag := range spaceTags {
		p := spaceKey(tag, id)
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return fmt.Errorf("store: forget %s: %w", id, err)
		}
	}
	if v, err := a.s.get(nameKey(info.Name)); err == nil && string(v) == string(id[:]) {
		if err := b.Delete(nameKey(info.Name), nil); err != nil {
			return fmt.Errorf("store: forget %s: %w", id, err)
		}
	} else if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("store: forget %s: %w", id, err)
	}
	if err := a.commitBatch(b, &bodyWrites{dead: dead}); err != nil {
		return fmt.Errorf("store: forget %s: %w", id, err)
	}
	return nil
}
