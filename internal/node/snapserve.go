package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
)

// maxSnapStreams bounds the snapshot streams a node serves at once, over
// all peers; each peer gets one at a time.
const maxSnapStreams = 4

// snapServe counts the snapshot streams being served.
type snapServe struct {
	mu     sync.Mutex
	active map[keys.AuthorID]bool // peers with a stream being served; guarded by mu
}

// enter takes a serving slot for peer, or reports false if peer has one
// or all are taken.
func (s *snapServe) enter(peer keys.AuthorID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		s.active = map[keys.AuthorID]bool{}
	}
	if s.active[peer] || len(s.active) >= maxSnapStreams {
		return false
	}
	s.active[peer] = true
	return true
}

func (s *snapServe) leave(peer keys.AuthorID) {
	s.mu.Lock()
	delete(s.active, peer)
	s.mu.Unlock()
}

// serveSnapshot answers the requests of one incoming /loam/snapshot/1
// stream from the snapshots this node keeps (checkpoint.go): a peer with
// a stream already served, or over the bound, is reset at once. A peer
// that misbehaves (a bad proof, a malformed message) is punished as in
// sync.
func (n *Node) serveSnapshot(s p2p.Stream) {
	peer := s.Peer()
	if !n.snaps.enter(peer) {
		s.Reset()
		return
	}
	defer n.snaps.leave(peer)
	err := reconcile.ServeSnapshot(n.ctx, s, n.dev.Author(), peer, nodeSnapSource{n}, reconcile.SnapTimeouts)
	if err != nil {
		s.Reset()
		if errors.Is(err, reconcile.ErrMisbehaving) {
			n.punish(peer, misbehaviourKind(err), err)
		}
		return
	}
	s.Close()
}

// nodeSnapSource serves the snapshots a node keeps.
type nodeSnapSource struct{ n *Node }

func (src nodeSnapSource) SnapSpace(disc keys.Digest) (keys.SpaceID, bool) {
	n := src.n
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range n.held {
		if keys.DiscoveryID(id) == disc {
			return id, true
		}
	}
	return keys.SpaceID{}, false
}

func (src nodeSnapSource) SnapOffer(ctx context.Context, sp keys.SpaceID) (reconcile.SnapOffer, bool, error) {
	n := src.n
	if private, err := n.isPrivate(ctx, sp); err != nil || private {
		return reconcile.SnapOffer{}, false, nil
	}
	c, dir, ok := n.keptSnapshot(sp)
	if !ok {
		return reconcile.SnapOffer{}, false, nil
	}
	o := reconcile.SnapOffer{ID: c.ID, Commit: c.Bytes()}
	for i := range o.Sizes {
		fi, err := os.Stat(filepath.Join(dir, fmt.Sprint(i+1)))
		if err != nil {
			return reconcile.SnapOffer{}, false, nil
		}
		o.Sizes[i] = uint64(fi.Size())
	}
	return o, true, nil
}

func (src nodeSnapSource) SnapPart(ctx context.Context, sp keys.SpaceID, c keys.CommitID, part int) (io.ReadCloser, int64, error) {
	if part < 1 || part > reconcile.SnapParts {
		return nil, 0, reconcile.ErrNoSnapshot
	}
	f, err := os.Open(filepath.Join(src.n.snapDir(sp), c.String(), fmt.Sprint(part)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, reconcile.ErrNoSnapshot
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// keptSnapshot returns the checkpoint whose snapshot this node keeps for
// space sp, and its directory.
func (n *Node) keptSnapshot(sp keys.SpaceID) (*commit.Commit, string, bool) {
	ents, err := os.ReadDir(n.snapDir(sp))
	if err != nil {
		return nil, "", false
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(n.snapDir(sp), e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "commit"))
		if err != nil {
			continue
		}
		c, err := commit.Decode(b)
		if err != nil || c.ID.String() != e.Name() || c.Space != sp {
			continue
		}
		return c, dir, true
	}
	return nil, "", false
}
