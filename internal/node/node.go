package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/readkey"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Errors of the node.
var (
	ErrInUse       = errors.New("the Loam home is in use by another process")
	ErrBadName     = errors.New("invalid space name")
	ErrOffline     = errors.New("this node runs without network")
	ErrNotAdmin    = errors.New("this device is not an admin of the space")
	ErrUnreachable = errors.New("no peer could be reached")
)

// Options configure a node.
type Options struct {
	Home string
	// Offline runs without a p2p host: the CLI's direct mode.
	Offline bool
	// Listen lists p2p multiaddrs; nil means all interfaces, random ports.
	Listen []string
	// MDNS finds peers on the local network.
	MDNS bool
	// DHT chooses the DHT the node announces and looks up its spaces in
	// (discovery.go). The zero value, p2p.DHTOff, keeps the node off the
	// internet: only 'loam daemon' turns on the public DHT by default.
	DHT p2p.DHTMode
	// Bootstrap lists bootstrap nodes' multiaddrs (with /p2p/): the DHT's
	// entry points and the relays used behind a NAT. Empty with
	// p2p.DHTAmino: the public libp2p bootstrap peers.
	Bootstrap []string
	// RelayService makes the node a relay for peers behind NATs (a
	// seeder with a public address: peers connected to it reserve a slot
	// and are reached through it), carrying at most RelayLimit per
	// relayed connection (zero: p2p.DefaultRelayLimit).
	RelayService bool
	RelayLimit   p2p.RelayLimit
	// NoSync skips fsync (benchmarks only).
	NoSync bool
	// FullJoin makes a fresh joiner sync a space's whole history even
	// when a peer offers a checkpoint's snapshot. By default a fresh
	// joiner of a public space asks its peers for one first
	// (bootstrap.go) and skips the history below it; once something
	// after the checkpoint must be decided again (a revocation), it
	// fetches that history from a full replica and becomes one
	// (deepen.go). A private space is always joined in full.
	FullJoin bool
	// UploadRate bounds the bytes per second this node serves blob chunks
	// at, over all peers; 0 means no bound.
	UploadRate int64
	// FetchBlobs is the size up to which blobs referenced by the keys of
	// held spaces are fetched as soon as they are seen (eagerly); larger
	// ones are fetched when read. 0 means DefaultFetchBlobs, a negative
	// value none, and NoBlobLimit all.
	FetchBlobs int64
	// Now is the node's wall clock (nil: time.Now): commits are dated by
	// it and those from the future held back by it. Tests skew it.
	Now func() time.Time
	// Logger receives the node's operational events (log.go): peers
	// connecting and leaving, joins, invites used, revocations, refused
	// commits and peers, blob fetches, and errors. nil discards them.
	Logger *slog.Logger
}

// Node is a running node. It is safe for concurrent use.
type Node struct {
	home   string
	dev    keys.DeviceKey
	st     *store.Store
	clock  *commit.Clock
	hub    *space.Hub
	host   *p2p.Host // nil when offline
	blobs  *blob.Store
	disc   *discovery       // nil without a DHT
	mdns   bool             // Options.MDNS: peers on the LAN find this node
	rk     *readkey.Custody // read keys of private spaces
	roster rosters          // each space's last roster (roster.go)
	rc     *reconnect       // peer book and joins (reconnect.go); nil when offline
	sync   nodeSync         // sync sessions' limits and shared bounds (syncpolicy.go)
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node starts

	mu       sync.Mutex
	spaces   map[keys.SpaceID]*space.Space        // opened write paths; guarded by mu
	held     []keys.SpaceID                       // spaces in the store; guarded by mu
	sessions map[keys.AuthorID]*reconcile.Session // one per connected peer; guarded by mu
	ending   bool                                 // Close is ending the sessions: no new one starts; guarded by mu
	blocked  map[keys.AuthorID]time.Duration      // last block duration per peer; guarded by mu
	reaching map[keys.AuthorID]chan struct{}      // peers with a reachPeer loop, and what wakes it (buffered 1); guarded by mu
	counters Counters                             // guarded by mu
	waiters  []waiter                             // woken when their space stores something; guarded by mu

	upload       *blob.Pacer   // bounds blob upload; nil if unbounded
	blobTimeouts blobTimeouts  // defaultBlobTimeouts but in tests
	fetchBlobs   int64         // see Options.FetchBlobs, resolved
	snapshotJoin bool          // not Options.FullJoin
	wanted       wantedSet     // blobs to fetch eagerly
	erased       letGoSet      // blobs erases let go of (erase.go)
	retainKick   chan struct{} // a retention policy arrived (erase.go)
	gcMu         sync.Mutex    // held by GC while it decides; see releaseBlob
	usage        usageCache    // usage.go
	corruptServe bool          // tests only: serve chunks with a bit flipped

	closeOnce sync.Once

	people people     // this device's identity and certificate carrier (identity.go)
	await  awaiting   // spaces awaiting their own history after a restore (awaiting.go)
	opened bool       // Open has set everything up (guarded by mu)
	devs   devCarrier // the identity's device revocations and their carrier (devcarrier.go)
	leave  leaveState // spaces being left (leave.go)
	snaps  snapServe  // snapshot streams being served (snapserve.go)
	deep   deepening  // floored spaces fetching their history (deepen.go)
}

// Counters count what the node refused and transferred.
type Counters struct {
	Misbehaving  map[string]uint64 // by kind of misbehaviour
	Sessions     uint64            // sessions run
	BlobBytesIn  uint64            // verified blob bytes fetched from peers
	BlobBytesOut uint64            // blob bytes served to peers
	BlobFetches  int               // blob downloads in progress
	BlobsStarted uint64            // blob downloads started
	Ended        SyncStats         // summed counters of the sync sessions that ended
}

// Open opens the node in o.Home, creating its key and store on first use,
// and starts networking unless o.Offline.
func Open(ctx context.Context, o Options) (*Node, error) {
	if err := os.MkdirAll(o.Home, 0o700); err != nil {
		return nil, fmt.Errorf("node: create home: %w", err)
	}
	dev, err := keys.LoadOrCreateDeviceKey(o.Home)
	if err != nil {
		return nil, err
	}
	n := &Node{
		home: o.Home, dev: dev, clock: commit.NewClockAt(o.Now), hub: space.NewHub(),
		spaces: map[keys.SpaceID]*space.Space{}, sessions: map[keys.AuthorID]*reconcile.Session{},
		blocked: map[keys.AuthorID]time.Duration{}, counters: Counters{Misbehaving: map[string]uint64{}},
		reaching: map[keys.AuthorID]chan struct{}{}, log: o.Logger,
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.upload = blob.NewPacer(o.UploadRate, blob.PacerKeep)
	n.blobTimeouts = defaultBlobTimeouts
	n.fetchBlobs, n.snapshotJoin = o.FetchBlobs, !o.FullJoin
	if n.fetchBlobs == 0 {
		n.fetchBlobs = DefaultFetchBlobs
	}
	n.wanted = newWantedSet()
	n.erased = newLetGoSet()
	n.retainKick = make(chan struct{}, 1)
	n.deep = deepening{kick: make(chan struct{}, 1), spaces: map[keys.SpaceID]*deepWork{}}
	if n.rk, err = readkey.Load(o.Home, dev); err != nil {
		n.cancel()
		return nil, err
	}
	st, err := store.Open(filepath.Join(o.Home, "store"), store.Options{NoSync: o.NoSync, Notify: n.onEvent, Unseal: n.rk.Unseal, Rotated: n.rk.Rotated, Now: o.Now})
	if err != nil {
		n.cancel()
		var pe *fs.PathError
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) && !errors.As(err, &pe) ||
			strings.Contains(err.Error(), "lock held by current process") {
			return nil, fmt.Errorf("%w: %s (stop the other loam process, or set LOAM_HOME to another directory)", ErrInUse, o.Home)
		}
		return nil, err
	}
	n.st = st
	n.wg.Go(func() {
		n.rk.SaveLoop(n.ctx)
	})
	if err := n.rk.LearnStored(ctx, st); err != nil {
		n.Close()
		return nil, err
	}
	if n.blobs, err = blob.OpenStore(filepath.Join(o.Home, "blobs")); err != nil {
		n.Close()
		return nil, err
	}
	n.startEraseCollector()
	if err := n.loadHeld(ctx); err != nil {
		n.Close()
		return nil, err
	}
	// Awaiting spaces first: loading the identity starts the certificate
	// carrier, which writes, and must find the writes it may not make.
	if err := n.loadAwaiting(); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.loadIdentity(); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.finishLeaves(ctx); err != nil {
		n.Close()
		return nil, err
	}
	if !o.Offline {
		n.mdns = o.MDNS
		if err := n.startNetwork(ctx, o); err != nil {
			n.Close()
			return nil, err
		}
		n.startBlobFetcher()
		n.startAwaiting()
		n.startRetention()
		n.startDeepen()
	}
	// The person worker reads what startNetwork set: it starts now, or
	// when an identity is made later.
	n.mu.Lock()
	n.opened = true
	n.people.mu.Lock()
	if n.people.id != nil && n.ctx.Err() == nil {
		n.startPerson()
	}
	n.people.mu.Unlock()
	n.mu.Unlock()
	return n, nil
}

func (n *Node) loadHeld(ctx context.Context) error {
	infos, err := n.st.Spaces(ctx)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.held = n.held[:0]
	for _, in := range infos {
		n.held = append(n.held, in.ID)
	}
	return nil
}

// Close ends the sync sessions gracefully (endSessions: what was sent
// reaches the peers that still read, within closeDrain), stops networking
// and every goroutine, ends every watch, then closes the store. Writes in
// flight fail; nothing acknowledged is lost. Close is idempotent.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.closeReconnect() // records the peers synced with, while the sessions last
		n.endSessions()
		n.cancel()
		if n.host != nil {
			err = n.host.Close()
		}
		n.wg.Wait()
		n.hub.Close() // every watch ends: its channel closes
		if n.st != nil {
			err = errors.Join(err, n.st.Close())
		}
		// Read keys that could not be saved when learnt: a last try
		// before they would be lost.
		err = errors.Join(err, n.rk.SaveUnsaved())
	})
	return err
}

// Home returns the data directory.
func (n *Node) Home() string { return n.home }

// Author returns the device's author ID.
func (n *Node) Author() keys.AuthorID { return n.dev.Author() }

// Store returns the node's store (for reads and verification).
func (n *Node) Store() *store.Store { return n.st }

// Hub returns the watch hub.
func (n *Node) Hub() *space.Hub { return n.hub }

// onEvent is the store's Notify hook, on the applier goroutine: it must
// not block.
func (n *Node) onEvent(ev store.Event) {
	n.roster.observe(ev)
	n.hub.Publish(ev.Space, ev.Changes)
	n.kickPerson()
	n.logStored(ev)
	n.wantBlobs(ev)
	n.letGo(ev) // after wantBlobs: an erase in the same event wins
	n.kickRetention(ev)
	n.noteDeepen(ev)
	n.mu.Lock()
	sp := n.spaces[ev.Space]
	sessions := make([]*reconcile.Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		sessions = append(sessions, s)
	}
	for _, w := range n.waiters {
		if w.space == ev.Space {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	n.mu.Unlock()
	if sp != nil {
		sp.Observe(ev)
	}
	// After Observe: the carrier checks the write through the space, which
	// must know the grants this event brought.
	n.kickCarrier(ev.Space)
	n.noteDevices(ev)
	for _, s := range sessions {
		s.Observe(ev)
	}
}

// CheckName validates a local space name: 1..64 characters of letters,
// digits, '-', '_' and '.', not starting with "spc_".
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w %q: use 1 to 64 characters", ErrBadName, name)
	}
	if strings.HasPrefix(name, keys.SpacePrefix) {
		return fmt.Errorf("%w %q: names must not start with %q, which marks a space ID", ErrBadName, name, keys.SpacePrefix)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w %q: use letters, digits, '-', '_' and '.'", ErrBadName, name)
		}
	}
	return nil
}

// CreateSpace creates a space with a new space key whose genesis makes this
// device admin. The space secret is kept in the home's spaces/ directory.
func (n *Node) CreateSpace(ctx context.Context, name string) (*space.Space, error) {
	return n.NewSpace(ctx, name, SpaceOptions{})
}

// SpaceOptions describe a new space.
type SpaceOptions struct {
	// Private seals the keys and values of data ops under a read key only
	// members hold (docs/design.md, "Private spaces").
	Private bool
}

// NewSpace creates a space as CreateSpace does, with o's options.
func (n *Node) NewSpace(ctx context.Context, name string, o SpaceOptions) (*space.Space, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, err := n.st.SpaceByName(ctx, name); err == nil {
		return nil, fmt.Errorf("%w: %q (choose another name)", store.ErrNameTaken, name)
	}
	sk, err := keys.NewSpaceKey()
	if err != nil {
		return nil, err
	}
	ops := []commit.Op{commit.GrantOp(commit.Grant{Subject: n.dev.Author(), Role: commit.RoleAdmin})}
	if id, err := n.Identity(ctx); err == nil {
		// The person's other devices are admins too (docs/design.md, "The
		// person's own space (#12)").
		ops = append(ops, commit.GrantOp(commit.PersonGrant(id.ID, commit.RoleAdmin)))
	}
	var rk seal.ReadKey
	if o.Private {
		if rk, err = seal.NewReadKey(); err != nil {
			return nil, err
		}
		sealed, err := seal.SealKey(n.dev.Author(), rk, sk.Space(), 0)
		if err != nil {
			return nil, err
		}
		ops = append(ops, commit.RotateOp(commit.Rotate{Epoch: 0, Keys: []commit.SealedKey{{Reader: n.dev.Author(), Sealed: sealed}}}))
	}
	genesis, err := commit.Build(commit.Header{
		Space: sk.Space(), Author: sk.Author(), Seq: 1, Time: n.clock.Now(),
	}, ops, sk)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(n.home, "spaces")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: create space: %w", err)
	}
	secret := filepath.Join(dir, sk.Space().String()+".key")
	if err := os.WriteFile(secret, []byte(sk.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("node: save space secret: %w", err)
	}
	if o.Private {
		if err := n.rk.Add(sk.Space(), []keys.EpochKey{{Epoch: 0, Key: rk}}); err != nil {
			os.Remove(secret)
			return nil, err
		}
	}
	if err := n.st.CreateSpace(ctx, name, genesis); err != nil {
		os.Remove(secret)
		return nil, err
	}
	n.addHeld(sk.Space())
	return n.openSpace(ctx, sk.Space())
}

func (n *Node) addHeld(id keys.SpaceID) {
	n.mu.Lock()
	if !slices.Contains(n.held, id) {
		n.held = append(n.held, id)
	}
	sessions := make([]*reconcile.Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		sessions = append(sessions, s)
	}
	n.mu.Unlock()
	for _, s := range sessions {
		s.Notify(id) // offers it to peers already connected
	}
	n.kickDiscovery()
}

// Resolve returns the ID of a held space by ID text or local name.
func (n *Node) Resolve(ctx context.Context, ref string) (keys.SpaceID, error) {
	if strings.HasPrefix(ref, keys.SpacePrefix) {
		id, err := keys.ParseSpaceID(ref)
		if err != nil {
			return id, fmt.Errorf("%w (copy the whole ID from 'loam space ls')", err)
		}
		_, err = n.st.Space(ctx, id)
		return id, unknownSpaceHint(err)
	}
	id, err := n.st.SpaceByName(ctx, ref)
	return id, unknownSpaceHint(err)
}

// unknownSpaceHint points a space not held here to the list of those held.
func unknownSpaceHint(err error) error {
	if errors.Is(err, store.ErrUnknownSpace) {
		return fmt.Errorf("%w (see 'loam space ls' for the spaces held here)", err)
	}
	return err
}

// woken waits for a kick on wake (a worker's channel of one): true, or
// false once the node closes. A worker's loop is "for n.woken(wake)".
func (n *Node) woken(wake <-chan struct{}) bool {
	select {
	case <-wake:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// Closed returns store.ErrClosed once Close has begun, else nil: a check
// for the calls that would otherwise answer from what is left in memory.
func (n *Node) Closed() error {
	if n.ctx.Err() != nil {
		return fmt.Errorf("node: %w", store.ErrClosed)
	}
	return nil
}

// Space returns the write path of a held space by ID text or local name.
func (n *Node) Space(ctx context.Context, ref string) (*space.Space, error) {
	id, err := n.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return n.openSpace(ctx, id)
}

func (n *Node) openSpace(ctx context.Context, id keys.SpaceID) (*space.Space, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if sp, ok := n.spaces[id]; ok {
		return sp, nil
	}
	sp, err := space.Open(ctx, n.st, id, n.dev, n.clock)
	if err != nil {
		return nil, err
	}
	private, err := n.isPrivate(ctx, id)
	if err != nil {
		return nil, err
	}
	if private {
		name := sp.Info().Name
		sp.SetPrivate(func() (keys.EpochKey, error) {
			k, ok := n.rk.Current(id)
			if !ok {
				return keys.EpochKey{}, fmt.Errorf("%w %s (a seed member never writes; a member needs the key file %s%s from its backup, or to join again with a new invite)", ErrNoReadKey, name, id, readkey.KeySuffix)
			}
			return k, nil
		})
	}
	sp.SetHold(n.holdFor(id, sp.Info().Name))
	n.spaces[id] = sp
	return sp, nil
}

// Spaces lists the spaces held, by name.
func (n *Node) Spaces(ctx context.Context) ([]store.SpaceInfo, error) {
	infos, err := n.st.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(infos, func(a, b store.SpaceInfo) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return infos, nil
}
