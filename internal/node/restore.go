package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Restores (package archive) add a space from an archive through the
// store's normal write path. BeginRestore adds it empty, not yet held: the
// node offers it to no peer and syncs none of it until the restore ends.
// The restore applies its commits with Store().Apply and stores its blobs,
// then calls the end function, which holds the space on success and
// removes everything of it otherwise (the space, and the read keys
// BeginRestore added): as after a failed join.

// ErrHeld is returned by BeginRestore for a space this node holds already.
var ErrHeld = errors.New("the space is already held here")

// BeginRestore adds space id under the local name, empty, for a restore;
// readKeys (none for a public space, or when the archive has none: this
// device then reads the keys sealed to it in the space's history) are
// added first, so the view is built with them. One join or restore of a
// space runs at a time. The caller must call end with the restore's
// outcome; end returns that error, joined with any failure to clean up.
func (n *Node) BeginRestore(ctx context.Context, id keys.SpaceID, name string, readKeys []keys.EpochKey) (end func(error) error, err error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	unlock := func() {}
	if n.rc != nil { // offline, no join runs
		if unlock, err = n.lockJoin(ctx, id, nil); err != nil {
			return nil, err
		}
	}
	_, err = n.st.Space(ctx, id)
	switch {
	case err == nil:
		unlock()
		return nil, fmt.Errorf("%w: %s (nothing was changed: a restore adds a space this home does not hold)", ErrHeld, id)
	case !errors.Is(err, store.ErrUnknownSpace):
		unlock()
		return nil, err
	}
	if _, err := n.st.SpaceByName(ctx, name); err == nil {
		unlock()
		return nil, fmt.Errorf("%w: %q (restore it under another name)", store.ErrNameTaken, name)
	}
	addedKeys := len(readKeys) > 0 && len(n.rk.All(id)) == 0
	if len(readKeys) > 0 {
		if err := n.rk.Add(id, readKeys); err != nil {
			unlock()
			return nil, err
		}
	}
	forget := func() error {
		fctx, cancel := context.WithTimeout(n.ctx, forgetTimeout)
		defer cancel()
		n.mu.Lock()
		delete(n.spaces, id)
		n.mu.Unlock()
		err := n.st.Forget(fctx, id)
		if errors.Is(err, store.ErrUnknownSpace) {
			err = nil
		}
		return errors.Join(err, n.rk.Forget(id, addedKeys))
	}
	if err := n.st.AddSpace(ctx, name, id); err != nil {
		unlock()
		return nil, errors.Join(err, forget())
	}
	return func(rerr error) error {
		defer unlock()
		if rerr == nil {
			if err := n.Closed(); err != nil {
				rerr = err
			}
		}
		if rerr != nil {
			if ferr := forget(); ferr != nil {
				return errors.Join(rerr, fmt.Errorf("node: restore: remove the space the restore added: %w", ferr))
			}
			return rerr
		}
		n.mu.Lock()
		delete(n.spaces, id) // opened during the restore: open it again, private or not
		n.mu.Unlock()
		n.addHeld(id)
		return nil
	}, nil
}

// ReadKeys returns the read keys this node holds for space id, ascending
// by epoch (none for a public space, or a private one it seeds).
func (n *Node) ReadKeys(id keys.SpaceID) []keys.EpochKey { return slices.Clone(n.rk.All(id)) }
