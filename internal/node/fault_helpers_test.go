package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// Helpers of the fault suite's in-process tests (docs/reliability.md).

// ackVersion is v as the checker orders it: the author as hex keeps the
// byte order LWW compares authors by.
func ackVersion(v view.Version) ackcheck.Version {
	return ackcheck.Version{Wall: v.Time.Wall, Logical: uint64(v.Time.Logical), Author: hex.EncodeToString(v.Author[:]), Seq: v.Seq, Op: v.Op}
}

// opVersion returns the version of the op of c that writes key (a put of
// value, or a delete), as the view will order it.
func opVersion(c *commit.Commit, key, value []byte, del bool) (ackcheck.Version, error) {
	found := -1
	for i, o := range c.Ops {
		if string(o.Key) != string(key) || (o.Kind == commit.KindDel) != del || !del && string(o.Payload) != string(value) {
			continue
		}
		if found >= 0 {
			return ackcheck.Version{}, fmt.Errorf("commit %s writes %q twice", c.ID.Short(), key)
		}
		found = i
	}
	if found < 0 {
		return ackcheck.Version{}, fmt.Errorf("commit %s does not write %q", c.ID.Short(), key)
	}
	return ackVersion(view.Version{Time: c.Time, Author: c.Author, Seq: c.Seq, Op: uint32(found)}), nil
}

// nodeReplica is one node's copy of a space, for the checker.
type nodeReplica struct {
	name string
	n    *Node
	id   keys.SpaceID
}

func (r nodeReplica) Name() string { return r.name }

func (r nodeReplica) Get(ctx context.Context, _, key string) (ackcheck.Entry, error) {
	e, err := r.n.st.Get(ctx, r.id, []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return ackcheck.Entry{}, nil
	}
	if err != nil {
		return ackcheck.Entry{}, err
	}
	return ackcheck.Entry{Found: true, Value: string(e.Value), Version: ackVersion(e.Version)}, nil
}

// describe says, for a failure message, what a node holds of space id and
// whom it is connected to.
func describe(n *Node, id keys.SpaceID) string {
	hs, _ := n.st.Heads(context.Background(), id)
	var heads []string
	for _, h := range hs {
		heads = append(heads, fmt.Sprintf("%s:%d", h.Author.Short(), h.Seq))
	}
	var peers []string
	for _, p := range n.Peers() {
		if p.Connected {
			peers = append(peers, p.ID.Short())
		}
	}
	v, _ := n.st.View(context.Background(), id)
	return fmt.Sprintf("view %x, heads %v, connected to %v, %d sessions, misbehaving %v",
		v.Hash[:4], heads, peers, n.SyncStats().Sessions, n.Counters().Misbehaving)
}
