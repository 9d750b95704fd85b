package node

import (
	"context"
	"fmt"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
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
		t.ReadKeys = n.rk.All(id) // a seeder reads nothing
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
