package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/space"
)

// Read-key custody is package readkey's (n.rk); the node decides which
// spaces are private and makes the rotations.

// ErrNoReadKey is returned for a write to a private space by a device that
// holds none of its read keys (a seeder, or a node whose key file is gone).
var ErrNoReadKey = errors.New("this device holds no read key for the private space")

// ReadKeysUnsaved returns why the read keys of space id could not be saved
// to its key file the last time one was learnt, or nil. Such keys are used
// until the node stops; the next key learnt saves them all.
func (n *Node) ReadKeysUnsaved(id keys.SpaceID) error { return n.rk.Unsaved(id) }

// IsPrivate reports whether space id is private: its keys, values and
// blobs are sealed.
func (n *Node) IsPrivate(ctx context.Context, id keys.SpaceID) (bool, error) {
	return n.isPrivate(ctx, id)
}

// isPrivate reports whether space id is private: its genesis carries a
// rotate op (docs/design.md, "Private spaces"). A space whose genesis has
// not arrived yet counts as private if this node holds a read key for it.
func (n *Node) isPrivate(ctx context.Context, id keys.SpaceID) (bool, error) {
	if _, ok := n.rk.Current(id); ok {
		return true, nil
	}
	for sc, err := range n.st.Commits(ctx, id, keys.AuthorID(id), 1) {
		if err != nil {
			return false, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return false, fmt.Errorf("node: genesis of %s: %w", id, err)
		}
		for _, o := range c.Ops {
			if o.Kind == commit.KindRotate {
				n.rk.MarkPrivate(id)
				return true, nil
			}
		}
		break
	}
	return false, nil
}

// rotation returns a rotate op starting the epoch after the latest one
// this node holds for space id, with a new read key sealed to every member
// in ms that reads (read, write or admin in force), and to every live
// read, write or admin invite key (so a joiner holding an older ticket
// gets it too), except the revoked and the invites a revoked one joined
// through (whoever holds that ticket could be the revoked member again).
// In the person's own space, when this device holds the identity key, the
// key is sealed to the identity too (personReader): a device recovered
// from the phrase alone reads every epoch.
func (n *Node) rotation(id keys.SpaceID, ms []space.Member, revoked ...keys.AuthorID) (rotateOp, error) {
	cur, ok := n.rk.Current(id)
	if !ok {
		return rotateOp{}, fmt.Errorf("%w %s: cannot rotate its key", ErrNoReadKey, id)
	}
	k, err := seal.NewReadKey()
	if err != nil {
		return rotateOp{}, err
	}
	r := commit.Rotate{Epoch: cur.Epoch + 1}
	joinedRevoked := func(m space.Member) bool {
		return slices.ContainsFunc(m.Joined, func(a keys.AuthorID) bool { return slices.Contains(revoked, a) })
	}
	for _, m := range ms {
		if slices.Contains(revoked, m.Author) || m.Revoked != nil || m.Role == 0 || m.Role == commit.RoleSeed || m.Author == keys.AuthorID(id) ||
			joinedRevoked(m) {
			continue
		}
		sealed, err := seal.SealKey(m.Author, k, id, r.Epoch)
		if err != nil {
			return rotateOp{}, err
		}
		r.Keys = append(r.Keys, commit.SealedKey{Reader: m.Author, Sealed: sealed})
	}
	if who, ok := n.personReader(id); ok {
		sealed, err := seal.SealKey(who, k, id, r.Epoch)
		if err != nil {
			return rotateOp{}, err
		}
		r.Keys = append(r.Keys, commit.SealedKey{Reader: who, Sealed: sealed})
	}
	return rotateOp{commit.RotateOp(r), r.Epoch}, nil
}

// personReader returns the identity as a reader of space id's read keys
// when id is the person's own space of the identity this device holds
// the key of (identity.Key.PersonSpace).
func (n *Node) personReader(id keys.SpaceID) (keys.AuthorID, bool) {
	pid := n.people.current()
	if pid == nil || !pid.HoldsKey() {
		return keys.AuthorID{}, false
	}
	if sk, _ := pid.key.PersonSpace(); sk.Space() != id {
		return keys.AuthorID{}, false
	}
	return keys.AuthorID(pid.ID), true
}

// rotateOp is a rotate op and the epoch it starts.
type rotateOp struct {
	commit.Op
	Epoch uint64
}
