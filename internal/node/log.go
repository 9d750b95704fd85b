package node

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/store"
)

// The node's log (Options.Logger): one line per event, at Info for what
// an operator follows (peers, joins, invites used, revocations, refused
// commits and peers, blob fetches), Warn for what failed, Debug for the
// routine end of a sync session. Peers are named by their libp2p peer ID
// (as 'loam peers' shows them), members by author ID, spaces by space ID.
// Nothing secret is logged: no ticket, invite or read key, API token,
// key or value of a data op; errors logged are the store's and the
// protocol's, which name commits, never their contents.

// logStored logs the control ops among commits newly stored: invites
// used and revocations, made here or received. It runs on the store's
// applier goroutine (onEvent), so it must not block.
func (n *Node) logStored(ev store.Event) {
	for _, c := range ev.Stored {
		if slices.Contains(ev.Voided, c.ID) {
			continue // held but void: logged as refused if a peer sent it
		}
		for i := range c.Ops {
			switch o := &c.Ops[i]; o.Kind {
			case commit.KindGrant:
				g, err := commit.DecodeGrant(*o)
				if err != nil || g.Invite.IsZero() {
					continue
				}
				n.log.Info("invite used", "space", ev.Space.String(), "member", g.Subject.String(),
					"role", g.Role.String(), "invite", g.Invite.String(), "commit", c.ID.String())
			case commit.KindRevoke:
				r, err := commit.DecodeRevoke(*o)
				if err != nil {
					continue
				}
				n.log.Info("member revoked", "space", ev.Space.String(), "member", r.Author.String(),
					"last_seq", r.LastSeq, "by", c.Author.String(), "commit", c.ID.String())
			}
		}
	}
}

// logRefused logs each commit a peer sent that the store refused:
// rejected as invalid, void because its author was revoked, or dropped past
// a revoked or forked author's cut. Each is logged once: the store answers
// a commit it holds as a Duplicate afterwards.
func (n *Node) logRefused(peer keys.AuthorID, sp keys.SpaceID, cs []*commit.Commit, res store.Result) {
	for i, o := range res.Outcomes {
		if i >= len(cs) || (o.Status != store.Rejected && o.Status != store.Revoked && o.Status != store.Dropped) {
			continue
		}
		reason := o.Status.String()
		if o.Err != nil {
			reason = o.Err.Error()
		}
		c := cs[i]
		n.log.Info("commit refused", "space", sp.String(), "commit", c.ID.String(), "author", c.Author.String(),
			"seq", c.Seq, "peer", p2p.PeerIDString(peer), "outcome", o.Status.String(), "reason", reason)
	}
}

// logRefusedPeer logs a peer blocked for misbehaving.
func (n *Node) logRefusedPeer(peer keys.AuthorID, kind string, blocked time.Duration, why error) {
	attrs := []any{"peer", p2p.PeerIDString(peer), "kind", kind, "blocked_for", blocked.String()}
	if why != nil {
		attrs = append(attrs, "reason", why.Error())
	}
	n.log.Info("peer refused", attrs...)
}

// logSessionEnd logs the end of a sync session that no misbehaviour
// ended: routine (the peer left) at Debug.
func (n *Node) logSessionEnd(peer keys.AuthorID, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		n.log.Debug("sync session ended", "peer", p2p.PeerIDString(peer))
		return
	}
	n.log.Debug("sync session ended", "peer", p2p.PeerIDString(peer), "err", err.Error())
}

// logJoin logs how a join ended. The ticket is not logged: it holds the
// invite key and the read keys.
func (n *Node) logJoin(t keys.Ticket, err error) {
	switch {
	case err == nil:
		n.log.Info("joined space", "space", t.Space.String(), "name", t.Name, "invite", !t.Invite.IsZero())
	case n.ctx.Err() != nil:
		// The node is closing: the join resumes at the next start.
	default:
		n.log.Error("join failed", "space", t.Space.String(), "name", t.Name, "err", err.Error())
	}
}

// logBlobFetched logs the end of a blob fetch.
func (n *Node) logBlobFetched(id blob.BlobID, stats blob.Stats, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		n.log.Warn("blob fetch failed", "blob", id.String(), "bytes", stats.Fetched(), "err", err.Error())
		return
	}
	if err != nil {
		n.log.Info("blob fetch stopped", "blob", id.String(), "bytes", stats.Fetched())
		return
	}
	n.log.Info("blob fetch done", "blob", id.String(), "bytes", stats.Fetched())
}
