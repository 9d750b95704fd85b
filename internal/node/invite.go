package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Invite makes a ticket for a held space: a new invite key is granted role
// (until expires from now, 0: no expiry) in a commit by this device, which
// must be an admin, and the ticket carries that key and this node's
// addresses, and for a private space (unless role is seed) every read key
// this node holds. Whoever holds the ticket can join with that role.
func (n *Node) Invite(ctx context.Context, ref string, role commit.Role, expires time.Duration) (keys.Ticket, error) {
	return n.NewInvite(ctx, ref, InviteOptions{Role: role, Expires: expires})
}

// InviteOptions describe an invite.
type InviteOptions struct {
	Role commit.Role
	// Expires is how long joining is possible (0: no limit). A member who
	// joined stays one after the invite expires.
	Expires time.Duration
	// Uses is how many devices may join (0: unlimited). If more join
	// concurrently, the first by (commit time, author, ID) are admitted,
	// the same on every replica.
	Uses uint32
}

// NewInvite makes a ticket as Invite does, with o's limits.
func (n *Node) NewInvite(ctx context.Context, ref string, o InviteOptions) (keys.Ticket, error) {
	role, expires := o.Role, o.Expires
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return keys.Ticket{}, err
	}
	info, err := n.st.Space(ctx, id)
	if err != nil {
		return keys.Ticket{}, err
	}
	mine, err := n.st.Role(ctx, id, n.dev.Author())
	if err != nil {
		return keys.Ticket{}, err
	}
	if mine != commit.RoleAdmin {
		return keys.Ticket{}, fmt.Errorf("%w: inviting to %s needs the admin role; this device has %s (ask an admin for an invite)", ErrNotAdmin, info.Name, roleName(mine))
	}
	inv, err := keys.NewDeviceKey()
	if err != nil {
		return keys.Ticket{}, err
	}
	g := commit.Grant{Subject: inv.Author(), Role: role, Uses: o.Uses}
	if g.Uses == 0 {
		g.Uses = commit.UnlimitedUses // marks the subject as an invite key on every replica
	}
	if expires > 0 {
		g.Expires = uint64(time.Now().Add(expires).UnixMicro())
	}
	sp, err := n.openSpace(ctx, id)
	if err != nil {
		return keys.Ticket{}, err
	}
	if _, err := sp.Commit(ctx, []commit.Op{commit.GrantOp(g)}); err != nil {
		return keys.Ticket{}, fmt.Errorf("node: invite: %w", err)
	}
	t := keys.Ticket{Space: id, Name: info.Name, Invite: inv, Addrs: append(n.Addrs(), n.seederAddrs(ctx, id)...)}
	if role != commit.RoleSeed {
		t.ReadKeys = n.rk.all(id) // a seeder reads nothing
	}
	return t, nil
}

// Bounds on the seeders a ticket names, to keep tickets short.
const (
	ticketSeeders     = 3
	ticketSeederAddrs = 4
)

// seederAddrs returns the p2p addresses (with /p2p/) of connected peers
// that seed space id, so that a ticket lets its holder join through them
// when the inviter is offline.
func (n *Node) seederAddrs(ctx context.Context, id keys.SpaceID) []string {
	if n.host == nil {
		return nil
	}
	acc, err := n.st.Access(ctx, id) // not Members: that decides the whole space again
	if err != nil {
		return nil
	}
	var out []string
	found := 0
	for _, p := range n.host.Peers() {
		if !p.Connected || !p.Direct || acc.Role(p.ID) != commit.RoleSeed || found == ticketSeeders {
			continue
		}
		found++
		for i, a := range p.Addrs {
			if i == ticketSeederAddrs {
				break
			}
			out = append(out, a+"/p2p/"+p2p.PeerIDString(p.ID))
		}
	}
	return out
}

func roleName(r commit.Role) string {
	if r == 0 {
		return "no role"
	}
	return "the " + r.String() + " role"
}

// Join joins the space of a ticket: it connects to the ticket's peers,
// starts holding the space (which, with a DHT, looks up its other holders,
// and with mDNS syncs with those on the LAN: the ticket's addresses may
// then all be unreachable, or absent), waits
// until the invite key's grant has arrived by sync, and commits this
// device's self-grant through the invite. It
// returns once the space is writable (or readable, for a read invite), or
// when ctx ends.
func (n *Node) Join(ctx context.Context, t keys.Ticket) (*space.Space, error) {
	if n.host == nil {
		return nil, ErrOffline
	}
	// Without addresses, a peer holding the space is found in the DHT
	// or, on the LAN, by mDNS.
	find := n.disc != nil || n.mdns
	if len(t.Addrs) == 0 && !find {
		return nil, errors.New("node: join: the ticket names no peer to reach, and this node has no DHT and no mDNS to find one (start the daemon with --dht, or --mdns on the same LAN as a peer)")
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	reached, dialErr := n.host.ConnectAddrs(cctx, t.Addrs)
	cancel()
	for _, peer := range reached {
		n.upgradeIfRelayed(peer)
	}
	if len(reached) == 0 && !find {
		return nil, fmt.Errorf("%w: none of the ticket's peers answered (is the inviting node running?): %w", ErrUnreachable, dialErr)
	}
	if len(t.ReadKeys) > 0 { // before the space is held, so the view is built with them
		if err := n.rk.add(t.Space, t.ReadKeys); err != nil {
			return nil, err
		}
		if !t.Invite.IsZero() {
			if err := n.rk.joining(t.Space, t.Invite); err != nil {
				return nil, err
			}
		}
	}
	if _, err := n.st.Space(ctx, t.Space); errors.Is(err, store.ErrUnknownSpace) {
		name, err := n.freeName(ctx, t.Name)
		if err != nil {
			return nil, err
		}
		if err := n.st.AddSpace(ctx, name, t.Space); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	n.addHeld(t.Space)
	if t.Invite.IsZero() {
		return n.waitGenesis(ctx, t.Space)
	}
	inv := t.Invite.Author()
	var granted commit.Role
	dead, revoked := false, false // the invite's grant is here but no longer in force; revoked, not expired
	err := n.waitStored(ctx, t.Space, func() bool {
		acc, err := n.st.Access(ctx, t.Space)
		if err != nil {
			return false
		}
		granted = acc.Role(inv)
		dead = granted == 0 && len(acc.Grants(inv)) > 0
		_, revoked = acc.Cuts[inv]
		return granted != 0 || dead
	})
	if err != nil {
		return nil, fmt.Errorf("node: join: waiting for the invite's grant to arrive: %w", err)
	}
	if mine, _ := n.st.Role(ctx, t.Space, n.dev.Author()); dead && mine != 0 {
		return n.openSpace(ctx, t.Space) // joined before
	}
	if dead && revoked {
		return nil, fmt.Errorf("%w: the invite to %s was revoked by an admin (ask an admin for a new one)", ErrInviteVoid, t.Name)
	}
	if dead {
		return nil, fmt.Errorf("%w: the invite to %s has expired, or its uses are spent (ask an admin for a new one)", ErrInviteVoid, t.Name)
	}
	sp, err := n.openSpace(ctx, t.Space)
	if err != nil {
		return nil, err
	}
	if mine, _ := n.st.Role(ctx, t.Space, n.dev.Author()); acl.CanWrite(mine) || mine == granted {
		return sp, nil // joined before
	}
	if _, err := sp.Join(ctx, commit.InviteGrant(t.Space, n.dev.Author(), granted, t.Invite)); err != nil {
		return nil, fmt.Errorf("node: join: %w", err)
	}
	return sp, nil
}

func (n *Node) waitGenesis(ctx context.Context, id keys.SpaceID) (*space.Space, error) {
	err := n.waitStored(ctx, id, func() bool {
		hs, _ := n.st.Heads(ctx, id)
		return len(hs) > 0
	})
	if err != nil {
		return nil, fmt.Errorf("node: join: waiting for the space to arrive: %w", err)
	}
	return n.openSpace(ctx, id)
}

// freeName returns name, or name-2, name-3… if it is taken.
func (n *Node) freeName(ctx context.Context, name string) (string, error) {
	if CheckName(name) != nil {
		name = "space"
	}
	for i := 1; i < 1000; i++ {
		try := name
		if i > 1 {
			try = fmt.Sprintf("%s-%d", name, i)
		}
		if _, err := n.st.SpaceByName(ctx, try); errors.Is(err, store.ErrUnknownSpace) {
			return try, nil
		}
	}
	return "", fmt.Errorf("node: no free local name like %q", name)
}

// waitStored waits until cond holds, re-checking whenever the store stores
// something in space id, or until ctx ends.
func (n *Node) waitStored(ctx context.Context, id keys.SpaceID, cond func() bool) error {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	n.waiters = append(n.waiters, waiter{id, ch})
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		for i, w := range n.waiters {
			if w.ch == ch {
				n.waiters = append(n.waiters[:i], n.waiters[i+1:]...)
				break
			}
		}
		n.mu.Unlock()
	}()
	for !cond() {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.ctx.Done():
			return n.ctx.Err()
		}
	}
	return nil
}

type waiter struct {
	space keys.SpaceID
	ch    chan struct{} // buffered 1
}
