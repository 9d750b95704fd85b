package loam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/schema"
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
	ErrClosed       = store.ErrClosed // the Node was closed
	ErrBadName      = node.ErrBadName
	ErrOffline      = node.ErrOffline
	ErrBadTicket    = keys.ErrBadTicket
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
	// ErrAwaiting (with ErrReadOnly): this device was restored from a
	// backup, and its own commits in the space have not come back from a
	// peer yet; a write would fork its history. Writes work once the space
	// is in sync with a peer (WaitSynced).
	ErrAwaiting = space.ErrAwaiting
	// ErrErased: the key's value was erased (Space.Erase): its writes are
	// in the history, their payloads gone. The error says by whom and
	// when.
	ErrErased = space.ErrErased
	// ErrNothingToErase: no write held to the key (or under the prefix)
	// has a payload left.
	ErrNothingToErase = space.ErrNothingToErase
	// ErrSealed: the space is private and this node holds no read key for
	// it (a seeder keeps it online for its members without reading it):
	// Get, Lookup, Range and Conflicts cannot read it here.
	ErrSealed = space.ErrSealed
	// ErrAppRule: the write breaks an app rule in force in the space
	// (Space.Rules): a key under another member's name, a key off the
	// app's layouts, or a value its JSON Schema refuses. The error names
	// the app and the rule; nothing was written.
	ErrAppRule = space.ErrAppRule
	// ErrRulesVersion: DeclareRules was given a version not greater than
	// the app's version in force (it would not take effect).
	ErrRulesVersion = space.ErrRulesVersion
	// ErrBadRules: the body of DeclareRules does not decode as app rules.
	ErrBadRules = schema.ErrBody
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
// Options.Network, its connections to peers. Open returns a Node on the
// store opened in this process; Connect one that works through the daemon
// running for a home. Both offer the same operations with the same
// results and errors (docs/design.md, "The front door"). It is safe for
// concurrent use.
type Node struct {
	impl nodeImpl
}

// nodeImpl is what a Node does, in this process (localNode) or through a
// daemon's API (remoteNode).
type nodeImpl interface {
	close() error
	home() string
	author() string
	peerID() string
	addrs() []string
	createSpace(ctx context.Context, name string, vis Visibility) (spaceImpl, error)
	space(ctx context.Context, ref string) (spaceImpl, error)
	spaces(ctx context.Context) ([]SpaceInfo, error)
	join(ctx context.Context, ticket string) (spaceImpl, error)
	connect(ctx context.Context, addr string) error
	peers(ctx context.Context) ([]PeerInfo, error)
	refusals(ctx context.Context) (map[string]uint64, error)
	blobNode
	diskNode     // disk.go
	identityNode // identity.go
	profileNode  // profile.go
	deviceNode   // devices.go
	linkNode     // link.go
	leaveNode    // leave.go
}

// Open opens the node in o.Home, creating its device key and store on first
// use. It fails with ErrInUse while another process (a daemon) has the
// store open: Connect to that daemon instead.
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
	return &Node{impl: localNode{n}}, nil
}

// Close stops networking and closes the store. Writes in flight fail;
// nothing acknowledged is lost. A Node of Connect only lets go of the
// daemon, which goes on running.
func (n *Node) Close() error { return n.impl.close() }

// Home returns the node's data directory.
func (n *Node) Home() string { return n.impl.home() }

// Author returns the device's author ID ("aut_…").
func (n *Node) Author() string { return n.impl.author() }

// PeerID returns the device's peer ID in libp2p's form ("12D3Koo…").
func (n *Node) PeerID() string { return n.impl.peerID() }

// Addrs returns the node's p2p multiaddrs, each ending in /p2p/ and its
// peer ID as another node's Connect takes them (none offline; for a
// daemon, those it had when Connect reached it).
func (n *Node) Addrs() []string { return n.impl.addrs() }

// Daemon reports whether the node works through a daemon (Connect) rather
// than on a store opened in this process (Open).
func (n *Node) Daemon() bool {
	_, ok := n.impl.(*remoteNode)
	return ok
}

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
	Created time.Time // when this node first stored it
	Private bool      // keys, values and blobs are sealed under a read key
}

// CheckName validates a local space name.
func CheckName(name string) error { return node.CheckName(name) }

// CreateSpace creates a space with a new space key, whose genesis commit
// makes this device its admin. The space secret is kept in the home's
// spaces/ directory (mode 0600), and for a Private space its read keys
// beside it (docs/design.md, "Private spaces").
func (n *Node) CreateSpace(ctx context.Context, name string, vis Visibility) (*Space, error) {
	sp, err := n.impl.createSpace(ctx, name, vis)
	if err != nil {
		return nil, err
	}
	return &Space{n: n, impl: sp}, nil
}

// Space returns a held space by ID ("spc_…") or local name.
func (n *Node) Space(ctx context.Context, ref string) (*Space, error) {
	sp, err := n.impl.space(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &Space{n: n, impl: sp}, nil
}

// Spaces lists the spaces held, by name.
func (n *Node) Spaces(ctx context.Context) ([]SpaceInfo, error) { return n.impl.spaces(ctx) }

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

// Join joins the space of a ticket: it connects to the peers the ticket
// names, syncs the space and keeps it. It needs Options.Network (or a
// daemon). It returns once the join is stored; Space.WaitSynced waits for
// the first sync.
func (n *Node) Join(ctx context.Context, ticket string) (*Space, error) {
	sp, err := n.impl.join(ctx, ticket)
	if err != nil {
		return nil, err
	}
	return &Space{n: n, impl: sp}, nil
}

// Connect dials a peer by multiaddr (with /p2p/…).
func (n *Node) Connect(ctx context.Context, addr string) error { return n.impl.connect(ctx, addr) }

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
func (n *Node) Peers(ctx context.Context) ([]PeerInfo, error) { return n.impl.peers(ctx) }

// Refusals counts peers the node disconnected for misbehaving, by kind.
func (n *Node) Refusals(ctx context.Context) (map[string]uint64, error) {
	return n.impl.refusals(ctx)
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
