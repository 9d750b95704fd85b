package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/snapshot"
	"github.com/loamdb/loam/internal/store"
)

// A fresh joiner's bootstrap (#14, docs/plans/checkpoints.md §5): before
// a space it joins is offered in any sync Hello, it asks a few peers for
// their checkpoint's snapshot and installs the best one instead of the
// history below it.
const (
	// bootstrapPeers is how many peers are asked for an offer.
	bootstrapPeers = 3
	// bootstrapOffers bounds the wait for their offers.
	bootstrapOffers = 10 * time.Second
	// bootstrapFetch bounds the whole fetch, install included.
	bootstrapFetch = 10 * time.Minute
)

// snapOffer is a peer's offer, checked: C verifies and is a checkpoint of
// the space whose snapshot skips at least half of S(F)'s bytes.
type snapOffer struct {
	peer  keys.AuthorID
	sc    *reconcile.SnapClient
	s     p2p.Stream
	c     *commit.Commit
	k     commit.Checkpoint
	sizes [reconcile.SnapParts]uint64
}

// total is the sum of the frontier's seqs: how far the checkpoint is.
func (o *snapOffer) total() (t uint64) {
	for _, h := range o.k.Frontier {
		t += h.Seq
	}
	return t
}

// bootstrap tries to install space sp under name from a checkpoint's
// snapshot offered by one of peers (the ticket's peers reached, then other
// connected ones, bootstrapPeers in all). It reports whether it did; on
// false the space is not held and the join syncs the whole history. A
// peer whose offer or snapshot fails a check is punished (bad_snapshot).
// Attestations (verdicts by another person) are not required yet.
func (n *Node) bootstrap(ctx context.Context, sp keys.SpaceID, name string, peers []keys.AuthorID) bool {
	for _, p := range n.host.Peers() {
		if p.Connected && !slices.Contains(peers, p.ID) {
			peers = append(peers, p.ID)
		}
	}
	if len(peers) > bootstrapPeers {
		peers = peers[:bootstrapPeers]
	}
	if len(peers) == 0 {
		return false
	}
	offers := n.askOffers(ctx, sp, peers)
	defer func() {
		for _, o := range offers {
			o.s.Close()
		}
	}()
	if len(offers) == 0 {
		return false
	}
	slices.SortStableFunc(offers, func(a, b *snapOffer) int {
		if ta, tb := a.total(), b.total(); ta != tb {
			if ta > tb {
				return -1
			}
			return 1
		}
		return b.c.Time.Compare(a.c.Time)
	})
	ctx, cancel := context.WithTimeout(ctx, bootstrapFetch)
	defer cancel()
	tried := map[keys.CommitID]bool{}
	for _, best := range offers {
		if tried[best.c.ID] {
			continue
		}
		tried[best.c.ID] = true
		var same []*snapOffer // the peers offering this checkpoint, best's first
		for _, o := range offers {
			if o.c.ID == best.c.ID && o.sizes == best.sizes {
				same = append(same, o)
			}
		}
		err := n.installOffer(ctx, sp, name, same)
		if err == nil {
			return true
		}
		n.log.Warn("snapshot not installed: the join syncs the whole history", "space", sp.String(), "checkpoint", best.c.ID.String(), "err", err)
		if ctx.Err() != nil {
			return false
		}
	}
	return false
}

// askOffers asks each peer for its offer at once, within bootstrapOffers,
// and returns the usable ones, each with its stream open.
func (n *Node) askOffers(ctx context.Context, sp keys.SpaceID, peers []keys.AuthorID) []*snapOffer {
	ctx, cancel := context.WithTimeout(ctx, bootstrapOffers)
	defer cancel()
	var (
		mu  sync.Mutex
		out []*snapOffer
		wg  sync.WaitGroup
	)
	for _, peer := range peers {
		wg.Go(func() {
			s, err := n.host.Open(ctx, peer, reconcile.SnapshotProtocolID)
			if err != nil {
				return // an old peer, or gone: it syncs as before
			}
			stop := context.AfterFunc(ctx, func() { s.Reset() })
			sc := reconcile.NewSnapClient(s, n.dev.Author(), peer, reconcile.SnapTimeouts)
			wo, ok, err := sc.Offer(sp)
			var o *snapOffer
			if err == nil && ok {
				o, err = checkOffer(sp, peer, wo)
			}
			if !stop() || o == nil {
				s.Reset()
				// Only a bad offer or a broken message is the peer's
				// fault: a reset (a server whose slots are all taken
				// resets at once), a timeout or a dropped connection is
				// not, and blocking the peer would cut the join's sync
				// with it for a minute.
				if ctx.Err() == nil && (errors.Is(err, errBadOffer) || errors.Is(err, reconcile.ErrMisbehaving)) {
					n.punishSnap(peer, err)
				}
				return
			}
			o.sc, o.s = sc, s
			mu.Lock()
			out = append(out, o)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// errBadOffer: an offer that fails its checks.
var errBadOffer = errors.New("bad snapshot offer")

// checkOffer checks an offer: C verifies, belongs to sp and holds one
// checkpoint op with a valid frontier, and the snapshot skips at least
// half of S(F)'s bytes (else it returns nil and no error: not worth it).
func checkOffer(sp keys.SpaceID, peer keys.AuthorID, wo reconcile.SnapOffer) (*snapOffer, error) {
	c, err := commit.Verify(wo.Commit)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadOffer, err)
	}
	if c.Space != sp || len(c.Ops) != 1 || c.Ops[0].Kind != commit.KindCheckpoint {
		return nil, fmt.Errorf("%w: %s is not a checkpoint of the space", errBadOffer, c.ID.Short())
	}
	k, err := commit.DecodeCheckpoint(c.Ops[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadOffer, err)
	}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadOffer, err)
	}
	var total uint64
	for _, s := range wo.Sizes {
		total += s
	}
	if 2*total > k.Stats.Bytes {
		return nil, nil // skips less than half: the whole history is as good
	}
	return &snapOffer{peer: peer, c: c, k: k, sizes: wo.Sizes}, nil
}

// installOffer fetches the snapshot the offers (one checkpoint, from one
// or more peers) name, checks it, installs it, and checks that C's signer
// is an admin at F. A cut stream resumes at its offset from the next
// offering peer. Any failure leaves the space not held.
func (n *Node) installOffer(ctx context.Context, sp keys.SpaceID, name string, offers []*snapOffer) error {
	c, k := offers[0].c, offers[0].k
	stop := context.AfterFunc(ctx, func() {
		for _, o := range offers {
			o.s.Reset() // a read waits on the stream's deadlines, not on ctx
		}
	})
	defer stop()
	var parts [reconcile.SnapParts][]byte
	from := 0                // the offer being fetched from
	served := map[int]bool{} // the offers that sent bytes
	for i := range parts {
		size := offers[0].sizes[i]
		var buf bytes.Buffer
		buf.Grow(int(size))
		for uint64(buf.Len()) < size {
			if from == len(offers) {
				return fmt.Errorf("part %d: every offering peer failed", i+1)
			}
			o := offers[from]
			got, err := o.sc.Fetch(sp, c.ID, i+1, uint64(buf.Len()), size, &buf)
			if got > 0 {
				served[from] = true
			}
			if err != nil {
				if errors.Is(err, reconcile.ErrMisbehaving) {
					n.punishSnap(o.peer, err)
				}
				o.s.Reset()
				from++ // resume at the offset reached from the next peer
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		parts[i] = buf.Bytes()
	}
	kept, err := reconcile.DecodeKeptCommits(parts[reconcile.SnapKept-1])
	if err != nil {
		n.punishBadSnapshot(offers, served, err)
		return err
	}
	sec := snapshot.Sections{
		Kept: parts[reconcile.SnapIDs-1], Cells: parts[reconcile.SnapCells-1],
		Causal: parts[reconcile.SnapCausal-1], ACL: parts[reconcile.SnapACL-1],
	}
	if field, err := snapshot.Check(k, sec, kept); err != nil {
		err = fmt.Errorf("field %d: %w", field, err)
		n.punishBadSnapshot(offers, served, err)
		return err
	}
	if err := snapshot.Install(ctx, n.st, sp, name, c.ID, k, sec, kept); err != nil {
		n.forgetInstalled(sp)
		return err
	}
	// C's signer must be an admin of the whole space at F, by the grants
	// the snapshot installed. C itself arrives by sync, like any commit
	// after F: applied here, before the space is held, its store event
	// would make the sync sessions offer the space too early.
	role, err := n.st.Role(ctx, sp, c.Author)
	if err == nil && role != commit.RoleAdmin {
		err = fmt.Errorf("the checkpoint's signer %s has %s at its frontier, not admin", c.Author.Short(), roleName(role))
		n.punishBadSnapshot(offers, served, err)
	}
	if err != nil {
		n.forgetInstalled(sp)
		return err
	}
	if err := n.keepSnapshot(sp, c, parts); err != nil { // to serve it in turn
		n.log.Warn("snapshot installed but not kept to serve", "space", sp.String(), "err", err)
	}
	return nil
}

// forgetInstalled removes a space a failed bootstrap installed.
func (n *Node) forgetInstalled(sp keys.SpaceID) {
	ctx, cancel := context.WithTimeout(n.ctx, forgetTimeout)
	defer cancel()
	if err := n.st.Forget(ctx, sp); err != nil && !errors.Is(err, store.ErrUnknownSpace) {
		n.log.Warn("removing a snapshot that failed", "space", sp.String(), "err", err)
	}
}

// punishSnap counts a peer's bad snapshot or offer, and blocks it.
func (n *Node) punishSnap(peer keys.AuthorID, why error) {
	n.punish(peer, "bad_snapshot", why)
}

// punishBadSnapshot punishes the peer that served a snapshot that fails
// its checks, when one peer served all of it: when a resumed fetch took
// parts from several, which one lied is not known, and none is.
func (n *Node) punishBadSnapshot(offers []*snapOffer, served map[int]bool, why error) {
	if len(served) != 1 {
		return
	}
	for i := range served {
		n.punishSnap(offers[i].peer, why)
	}
}
