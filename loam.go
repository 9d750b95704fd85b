package loam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Errors callers may check with errors.Is.
var (
	ErrNotFound     = store.ErrNotFound
	ErrUnknownSpace = store.ErrUnknownSpace
	ErrNameTaken    = store.ErrNameTaken
	ErrReadOnly     = space.ErrReadOnly
	ErrInvalidLog   = space.ErrInvalidLog
	ErrInUse        = node.ErrInUse
	ErrBadName      = node.ErrBadName
	ErrOffline      = node.ErrOffline
	ErrBadTicket    = keys.ErrBadTicket
	ErrNotSupported = errors.New("not supported yet")
	ErrIsBlob       = errors.New("the key holds a blob, not a value")
	ErrNotBlob      = errors.New("the key holds a value, not a blob")
	// ErrClearBlob refuses, in a private space, a reference to a blob that
	// is not sealed there: write the bytes with PutBlob.
	ErrClearBlob = space.ErrClearBlob
	// ErrNoReadKey: this device holds no read key for the private space
	// (a seeder), or none of the epoch a blob is sealed under.
	ErrNoReadKey = node.ErrNoReadKey
	// ErrDiskFull: a write was refused because the disk holding the Loam
	// home is (nearly) full; nothing was written. Free space and write
	// again. Reads go on working.
	ErrDiskFull = store.ErrDiskFull
	// ErrForked (with ErrReadOnly): this device has two different commits
	// at one seq (its key is in use in two homes), so none of its writes
	// from there on count.
	ErrForked = space.ErrForked
)

// Options configure a Node.
type Options struct {
	// Home is the data directory. Empty means $LOAM_HOME, or ~/.loam.
	Home string
	// Network starts the p2p host: the node syncs its spaces with peers.
	// Without it the node works offline on its store alone.
	Network bool
	// Listen lists p2p multiaddrs (default: all interfaces, random ports).
	Listen []string
	// MDNS finds peers on the local network.
	MDNS bool
	// FetchBlobs is the size up to which blobs referenced by keys of held
	// spaces are fetched as soon as they are seen; larger ones are fetched
	// when read. 0 means 64 MiB, a negative value none (fetch on read
	// only), and math.MaxInt64 all.
	FetchBlobs int64
	// UploadRate bounds the bytes per second of blob data served to
	// peers; 0 means no bound.
	UploadRate int64
	// DHT chooses how peers are found beyond the local network: "" or
	// "off" (none: tickets and mDNS only), "amino" (the public libp2p DHT)
	// or "private" (Loam nodes only, reached through Bootstrap).
	DHT string
	// Bootstrap lists bootstrap nodes' multiaddrs (with /p2p/), the DHT's
	// entry points and relays (see 'loam bootstrap').
	Bootstrap []string
	// Logger receives the node's events, one line each (peers connecting
	// and leaving, joins, invites used, revocations, refused commits and
	// peers, blob fetches, errors); nil discards them.
	Logger *slog.Logger

	noSync bool // benchmarks only: skip fsync
}

// DefaultHome returns $LOAM_HOME, or ~/.loam.
func DefaultHome() string {
	if h := os.Getenv("LOAM_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".loam")
	}
	return ".loam"
}

// Node is one device's Loam: its key, its store of spaces and, with
// Options.Network, its connections to peers. It is safe for concurrent use.
type Node struct {
	n *node.Node
}

// Open opens the node in o.Home, creating its device key and store on first
// use.
func Open(ctx context.Context, o Options) (*Node, error) {
	home := o.Home
	if home == "" {
		home = DefaultHome()
	}
	dht := p2p.DHTOff
	if o.DHT != "" {
		var err error
		if dht, err = p2p.ParseDHTMode(o.DHT); err != nil {
			return nil, fmt.Errorf("loam: open: %w", err)
		}
	}
	n, err := node.Open(ctx, node.Options{
		Home: home, Offline: !o.Network, Listen: o.Listen, MDNS: o.MDNS, NoSync: o.noSync,
		FetchBlobs: o.FetchBlobs, UploadRate: o.UploadRate, DHT: dht, Bootstrap: o.Bootstrap, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Node{n: n}, nil
}

// Close stops networking and closes the store. Writes in flight fail;
// nothing acknowledged is lost.
func (n *Node) Close() error { return n.n.Close() }

// Home returns the node's data directory.
func (n *Node) Home() string { return n.n.Home() }

// Author returns the device's author ID ("aut_…").
func (n *Node) Author() string { return n.n.Author().String() }

// PeerID returns the device's peer ID in libp2p's form ("12D3Koo…").
func (n *Node) PeerID() string { return n.n.PeerID() }

// Addrs returns the node's p2p multiaddrs (none offline).
func (n *Node) Addrs() []string { return n.n.Addrs() }

// Visibility says whether a space is encrypted.
type Visibility int

// Visibilities.
const (
	Public  Visibility = iota // signed, not encrypted
	Private                   // keys and values sealed under a read key only members hold
)

// SpaceInfo describes a space held by the node.
type SpaceInfo struct {
	ID      string
	Name    string
	Created time.Time
}

// CheckName validates a local space name.
func CheckName(name string) error { return node.CheckName(name) }

// CreateSpace creates a space with a new space key, whose genesis commit
// makes this device its admin. The space secret is kept in the home's
// spaces/ directory (mode 0600), and for a Private space its read keys
// beside it (docs/design.md, "Private spaces").
func (n *Node) CreateSpace(ctx context.Context, name string, vis Visibility) (*Space, error) {
	sp, err := n.n.NewSpace(ctx, name, node.SpaceOptions{Private: vis == Private})
	if err != nil {
		return nil, err
	}
	return &Space{n: n, sp: sp}, nil
}

// Space returns a held space by ID ("spc_…") or local name.
func (n *Node) Space(ctx context.Context, ref string) (*Space, error) {
	sp, err := n.n.Space(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &Space{n: n, sp: sp}, nil
}

// Spaces lists the spaces held, by name.
func (n *Node) Spaces(ctx context.Context) ([]SpaceInfo, error) {
	infos, err := n.n.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SpaceInfo, len(infos))
	for i, in := range infos {
		out[i] = SpaceInfo{ID: in.ID.String(), Name: in.Name, Created: in.Created}
	}
	return out, nil
}

// Role is a member's capability in a space.
type Role string

// Roles.
const (
	Read  Role = "read"
	Write Role = "write"
	Admin Role = "admin"
	// Seed stores and serves a space, never reads or writes it: a home
	// server that keeps a private space online without its read key.
	Seed Role = "seed"
)

// Invite returns a ticket ("loam2…") with which one device can join the
// space with role; it can be used to join for expires (0: no limit).
// This device must be an admin of the space.
func (n *Node) Invite(ctx context.Context, ref string, role Role, expires time.Duration) (string, error) {
	r, err := commit.ParseRole(string(role))
	if err != nil {
		return "", err
	}
	t, err := n.n.Invite(ctx, ref, r, expires)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// Join joins the space of a ticket: it connects to the peers the ticket
// names, syncs the space and keeps it. It needs Options.Network.
func (n *Node) Join(ctx context.Context, ticket string) (*Space, error) {
	t, err := keys.ParseTicket(ticket)
	if err != nil {
		return nil, err
	}
	sp, err := n.n.Join(ctx, t)
	if err != nil {
		return nil, err
	}
	return &Space{n: n, sp: sp}, nil
}

// Connect dials a peer by multiaddr (with /p2p/…).
func (n *Node) Connect(ctx context.Context, addr string) error {
	_, err := n.n.Connect(ctx, addr)
	return err
}

// PeerInfo describes a peer.
type PeerInfo struct {
	Peer      string    // libp2p peer ID
	Author    string    // its device's author ID
	Addrs     []string  // connection addresses
	Direct    bool      // false if relayed
	Connected bool      //
	Spaces    []string  // IDs of the spaces synced with it
	BytesIn   uint64    //
	BytesOut  uint64    //
	LastSeen  time.Time //
}

// Peers lists the peers the node knows.
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	for _, p := range n.n.Peers() {
		pi := PeerInfo{Peer: p.PeerID, Author: p.ID.String(), Addrs: p.Addrs, Direct: p.Direct, Connected: p.Connected,
			BytesIn: p.BytesIn, BytesOut: p.BytesOut, LastSeen: p.LastSeen}
		for _, s := range p.Spaces {
			pi.Spaces = append(pi.Spaces, s.String())
		}
		out = append(out, pi)
	}
	return out
}

// Refusals counts peers the node disconnected for misbehaving, by kind.
func (n *Node) Refusals() map[string]uint64 { return n.n.Counters().Misbehaving }

// InviteUses is Invite for at most uses devices (0: unlimited): if more
// join concurrently, the first by (commit time, author, ID) are admitted,
// the same on every replica.
func (n *Node) InviteUses(ctx context.Context, ref string, role Role, expires time.Duration, uses uint32) (string, error) {
	r, err := commit.ParseRole(string(role))
	if err != nil {
		return "", err
	}
	t, err := n.n.NewInvite(ctx, ref, node.InviteOptions{Role: r, Expires: expires, Uses: uses})
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

// Member is one author holding (or having held) a grant in a space.
type Member struct {
	Author  string        `json:"author"`
	Invite  bool          `json:"invite,omitempty"` // an invite key, not a device
	Role    Role          `json:"role"`             // in force now; "" when none (expired or revoked)
	Grants  []MemberGrant `json:"grants"`
	Joined  []string      `json:"joined,omitempty"` // for an invite: who joined through it, first first
	Revoked *Revocation   `json:"revoked,omitempty"`
	// ForkedAt is the seq at which the member signed two different
	// commits (its key is used on two devices, or was stolen): its
	// commits from there on do not count. 0 if it did not fork.
	ForkedAt uint64 `json:"forked_at,omitempty"`
}

// MemberGrant is one grant that took effect.
type MemberGrant struct {
	Role      Role       `json:"role"`
	Prefix    string     `json:"prefix,omitempty"`  // the keys it is restricted to ("": all)
	Expires   *time.Time `json:"expires,omitempty"` // nil: never
	Uses      uint32     `json:"uses,omitempty"`    // invite keys: joins allowed (0: unlimited)
	GrantedBy string     `json:"granted_by"`
	Since     time.Time  `json:"since"`
	Via       string     `json:"via,omitempty"` // the invite key joined through
}

// Revocation is a member's revocation: its commits (an invite: its joins)
// after LastSeq do not count.
type Revocation struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	LastSeq uint64    `json:"last_seq"`
}

// Members lists the members of a space, in author order.
func (n *Node) Members(ctx context.Context, ref string) ([]Member, error) {
	ms, err := n.n.Members(ctx, ref)
	if err != nil {
		return nil, err
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		o := Member{Author: m.Author.String(), Invite: m.Invite, Grants: []MemberGrant{}}
		if m.Role != 0 {
			o.Role = Role(m.Role.String())
		}
		for _, g := range m.Grants {
			mg := MemberGrant{Role: Role(g.Role.String()), Prefix: string(g.Prefix), Uses: g.Uses, GrantedBy: g.GrantedBy.String(), Since: g.Since}
			if !g.Expires.IsZero() {
				e := g.Expires
				mg.Expires = &e
			}
			if !g.Via.IsZero() {
				mg.Via = g.Via.String()
			}
			o.Grants = append(o.Grants, mg)
		}
		for _, j := range m.Joined {
			o.Joined = append(o.Joined, j.String())
		}
		if m.Revoked != nil {
			o.Revoked = &Revocation{By: m.Revoked.By.String(), At: m.Revoked.At, LastSeq: m.Revoked.LastSeq}
		}
		o.ForkedAt = m.ForkedAt
		out[i] = o
	}
	return out, nil
}

// Revoked is what Revoke did.
type Revoked struct {
	Author  string `json:"author"`
	Invite  bool   `json:"invite,omitempty"`
	LastSeq uint64 `json:"last_seq"` // the cut
	// Epoch is the read-key epoch a private space's revocation started:
	// writes from now on are sealed under a key the revoked member lacks.
	Epoch uint64 `json:"epoch,omitempty"`
}

// Revoke revokes a member of a space by its author ID (aut_…), or an
// invite by its ticket (loam2…). The member's commits after the latest
// one held here (an invite's joins after those admitted so far) stop
// counting on every replica. This device must be an admin.
func (n *Node) Revoke(ctx context.Context, ref, target string) (Revoked, error) {
	r, err := n.n.Revoke(ctx, ref, target)
	if err != nil {
		return Revoked{}, err
	}
	return Revoked{Author: r.Author.String(), Invite: r.Invite, LastSeq: r.LastSeq, Epoch: r.Epoch}, nil
}

// ExportSecret returns the secret key (spcsec_…) of the space with ID id
// kept in home, and with remove deletes it there: the space key signs only
// the genesis, so its owner can keep it offline.
func ExportSecret(home, id string, remove bool) (string, error) {
	sp, err := keys.ParseSpaceID(id)
	if err != nil {
		return "", err
	}
	return node.ExportSecret(home, sp, remove)
}

// ImportSecret keeps the secret key of the space with ID id in home again,
// after checking it is that space's key.
func ImportSecret(home, id, secret string) error {
	sp, err := keys.ParseSpaceID(id)
	if err != nil {
		return err
	}
	return node.ImportSecret(home, sp, secret)
}
