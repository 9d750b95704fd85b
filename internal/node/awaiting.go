package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/durable"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
)

// Spaces awaiting their own history. A device restored from a backup holds
// its spaces again without their commits, which come back from its peers.
// Until its own commits are back, a write would sign a second commit at a
// seq it already used elsewhere: a fork, which every replica then holds
// against the device. So a restore lists those spaces in HOME/awaiting,
// and the node refuses writes there (space.ErrAwaiting) until the space
// is in sync with a peer (SpaceSync): then what any peer holds of the
// device's history is here. docs/design.md, "Awaiting one's own history
// after a restore (#12)".

const (
	awaitingFile = "awaiting"
	// maxAwaitingFile bounds the file read: a line per space.
	maxAwaitingFile = 1 << 20
)

// awaiting is the set of spaces awaiting their own history.
type awaiting struct {
	mu  sync.Mutex
	ids map[keys.SpaceID]bool
}

// WriteAwaiting writes the awaiting file of home: the spaces a restore
// brought back without their commits. Restores call it on the home they
// stage, before the node opens it.
func WriteAwaiting(home string, ids []keys.SpaceID) error {
	if len(ids) == 0 {
		return nil
	}
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id.String() + "\n")
	}
	if err := durable.WriteFile(filepath.Join(home, awaitingFile), []byte(b.String())); err != nil {
		return fmt.Errorf("node: record the spaces awaiting their history: %w", err)
	}
	return nil
}

// loadAwaiting reads the awaiting file, if any, and starts the goroutine
// that clears each space once in sync. Called by Open.
func (n *Node) loadAwaiting() error {
	b, err := os.ReadFile(filepath.Join(n.home, awaitingFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && len(b) > maxAwaitingFile {
		err = fmt.Errorf("%d bytes, more than %d", len(b), maxAwaitingFile)
	}
	if err != nil {
		return fmt.Errorf("node: read %s: %w", filepath.Join(n.home, awaitingFile), err)
	}
	ids := map[keys.SpaceID]bool{}
	for line := range strings.Lines(string(b)) {
		id, err := keys.ParseSpaceID(strings.TrimSpace(line))
		if err != nil {
			return fmt.Errorf("node: %s: %w (remove the file to write at once, at the risk of forking this device's history)", filepath.Join(n.home, awaitingFile), err)
		}
		ids[id] = true
	}
	n.await.mu.Lock()
	n.await.ids = ids
	n.await.mu.Unlock()
	return nil
}

// startAwaiting starts the goroutine that clears awaiting spaces, owned
// by the node. Called by Open once the network runs.
func (n *Node) startAwaiting() {
	n.await.mu.Lock()
	some := len(n.await.ids) > 0
	n.await.mu.Unlock()
	if !some || n.host == nil {
		return
	}
	n.wg.Go(func() {
		n.clearAwaiting(n.ctx)
	})
}

// holdFor returns the write hold of space id: an error while it awaits
// its history.
func (n *Node) holdFor(id keys.SpaceID, name string) func() error {
	return func() error {
		n.await.mu.Lock()
		wait := n.await.ids[id]
		n.await.mu.Unlock()
		if !wait {
			return nil
		}
		return fmt.Errorf("%w: %w: this device was restored, and its own commits in %s have not come back from a peer yet; a write now would fork its history. Run the daemon until it has synced with a peer (loam status), then write", space.ErrReadOnly, space.ErrAwaiting, name)
	}
}

// clearAwaiting waits, on the sync sessions' progress, until each
// awaiting space is in sync with a peer, and clears it.
func (n *Node) clearAwaiting(ctx context.Context) {
	for {
		news := n.sync.news.next() // before looking, so no progress is missed
		n.await.mu.Lock()
		ids := make([]keys.SpaceID, 0, len(n.await.ids))
		for id := range n.await.ids {
			ids = append(ids, id)
		}
		n.await.mu.Unlock()
		if len(ids) == 0 {
			return
		}
		var back []keys.SpaceID
		for _, id := range ids {
			if _, inSync, err := n.SpaceSync(ctx, id); err == nil && inSync > 0 {
				back = append(back, id)
			}
		}
		if len(back) > 0 {
			n.await.mu.Lock()
			for _, id := range back {
				delete(n.await.ids, id)
			}
			rest := make([]keys.SpaceID, 0, len(n.await.ids))
			for id := range n.await.ids {
				rest = append(rest, id)
			}
			n.await.mu.Unlock()
			slices.SortFunc(rest, func(a, b keys.SpaceID) int { return strings.Compare(a.String(), b.String()) })
			if err := n.saveAwaiting(rest); err != nil {
				n.log.Warn("could not record the spaces still awaiting their history", "err", err)
			}
			for _, id := range back {
				n.log.Info("own history back: writes allowed", "space", id.String())
			}
		}
		select {
		case <-news:
		case <-ctx.Done():
			return
		}
	}
}

// saveAwaiting rewrites the awaiting file with ids, or removes it.
func (n *Node) saveAwaiting(ids []keys.SpaceID) error {
	if len(ids) == 0 {
		err := os.Remove(filepath.Join(n.home, awaitingFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return WriteAwaiting(n.home, ids)
}

// HeldElsewhere reports whether space sp, as held here, names another
// holder: a device other than this one certified there, or granted a role
// through an invite, or a seeder. A restore of a space with its data
// awaits its own history only then: where nobody else holds the space,
// nobody holds commits of this device that the backup lacks.
func (n *Node) HeldElsewhere(ctx context.Context, sp keys.SpaceID) (bool, error) {
	acc, err := n.st.Access(ctx, sp)
	if err != nil {
		return false, err
	}
	me := n.dev.Author()
	for _, d := range acc.Certified() {
		if d != me {
			return true, nil
		}
	}
	for _, s := range acc.Subjects() {
		if s == me || s == keys.AuthorID(sp) {
			continue
		}
		for _, g := range acc.Grants(s) {
			if g.Role == commit.RoleSeed || !g.Invite.IsZero() {
				return true, nil
			}
		}
	}
	return false, nil
}
