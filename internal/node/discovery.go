package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
)

// Discovery on the internet. With a DHT, the node announces each held
// space under its discovery ID (keys.DiscoveryID: a keyed hash; the space
// ID never reaches the DHT) and looks up the other providers of every held
// space, connects to them (through a relay when nothing else works) and
// keeps trying to upgrade relayed connections to direct ones.
const (
	// reprovideEvery renews the node's provider records; the DHT keeps
	// them for about a day.
	reprovideEvery = 6 * time.Hour
	// reannounceMin spaces out the announces made because the node's
	// addresses changed (provider records carry them): at start they
	// change several times within a minute (listen, observed, relay
	// addresses), and a flapping address must not keep the DHT busy.
	reannounceMin = 30 * time.Second
	// lookupMin and lookupMax bound the pause between lookup rounds while
	// some held space has no peer connected: it starts at lookupMin after
	// a space is added and doubles up to lookupMax.
	lookupMin = time.Second
	lookupMax = time.Minute
	// lookupIdle is the pause between rounds once every held space has a
	// peer connected.
	lookupIdle = 10 * time.Minute
	// roundTimeout bounds one provide or lookup in the DHT.
	roundTimeout = time.Minute
	// maxProviders is how many providers of a space a lookup asks for.
	maxProviders = 20
	// connectMin and connectMax bound the pause between attempts to
	// connect to a provider found, for connectPatience in all.
	connectMin      = 500 * time.Millisecond
	connectMax      = 2 * time.Second
	connectPatience = 2 * time.Minute
	// upgradeMin and upgradeMax bound the pause between hole punch
	// attempts on a relayed connection to a space peer.
	upgradeMin = time.Second
	upgradeMax = time.Minute
	// RelayAfter is how many hole punch attempts on a relayed connection
	// fail before sync goes through the relay (p2p.Host.UseRelay), or
	// RelayGrace after the node started trying if that comes first (one
	// attempt can take 10 s or more): long enough for the usual punch
	// (within a second once both sides know their public address), short
	// enough that two homes that can never punch (a symmetric NAT) start
	// syncing soon. Upgrade attempts go on, and sync moves to the direct
	// connection when one appears.
	RelayAfter = 3
	RelayGrace = 10 * time.Second
)

// discovery is the node's DHT state. Its goroutines are counted in the
// node's wait group and stop with the node's context.
type discovery struct {
	kick     chan struct{} // buffered 1: a space was added, look up now
	addrsNew chan struct{} // buffered 1: the node's addresses changed, announce again

	mu      sync.Mutex
	spaces  map[keys.SpaceID]*spaceLookup // guarded by mu
	addrsAt time.Time                     // when the node's addresses last changed; guarded by mu
}

// spaceLookup is what the last DHT round found for one space.
type spaceLookup struct {
	provided time.Time       // last successful Provide
	looked   time.Time       // end of the last lookup
	found    []keys.AuthorID // providers found by the last lookup
	err      error           // of the last provide or lookup, nil if both went well
}

// SpaceDiscovery is what the DHT told about one held space.
type SpaceDiscovery struct {
	Space    keys.SpaceID
	Provided time.Time       // zero: not announced yet
	Looked   time.Time       // zero: not looked up yet
	Found    []keys.AuthorID // other nodes announcing the space
	Err      error           // of the last announce or lookup
}

func (n *Node) startDiscovery() {
	n.disc = &discovery{
		kick:     make(chan struct{}, 1),
		addrsNew: make(chan struct{}, 1),
		spaces:   map[keys.SpaceID]*spaceLookup{},
	}
	n.wg.Go(func() {
		n.discoverLoop()
	})
}

// addrsChanged is the host's NotifyAddrs hook: provider records carry
// the addresses the node had when it announced, so announce again (within
// reannounceMin of the last announce at the earliest).
func (n *Node) addrsChanged() {
	if n.disc == nil {
		return
	}
	n.disc.mu.Lock()
	n.disc.addrsAt = time.Now()
	n.disc.mu.Unlock()
	select {
	case n.disc.addrsNew <- struct{}{}:
	default:
	}
}

// provideDue reports whether a space last announced at provided should be
// announced again at now, the node's addresses having last changed at
// addrsAt.
func provideDue(provided, addrsAt, now time.Time) bool {
	if now.Sub(provided) > reprovideEvery {
		return true
	}
	return provided.Before(addrsAt) && now.Sub(provided) >= reannounceMin
}

// kickDiscovery makes the discovery loop run a round now.
func (n *Node) kickDiscovery() {
	if n.disc == nil {
		return
	}
	select {
	case n.disc.kick <- struct{}{}:
	default:
	}
}

func (n *Node) discoverLoop() {
	pause := lookupMin
	for {
		lonely := n.discoverRound()
		wait := lookupIdle
		if lonely {
			wait = pause
			pause = min(2*pause, lookupMax)
		}
		if !n.discoverWait(wait, &pause) {
			return
		}
	}
}

// discoverWait waits for the next lookup round: for d, or until a space
// is added (which resets *pause). Meanwhile it announces again when the
// node's addresses change. It reports false when the node closes.
func (n *Node) discoverWait(d time.Duration, pause *time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-n.disc.kick:
			*pause = lookupMin
			return true
		case <-n.disc.addrsNew:
			n.reannounce()
		case <-n.ctx.Done():
			return false
		}
	}
}

// discoverRound announces and looks up every held space once, and
// connects to the providers found. It reports whether some held space has
// no peer syncing it.
func (n *Node) discoverRound() (lonely bool) {
	for _, sp := range n.syncSpaces() {
		if n.ctx.Err() != nil {
			return false
		}
		n.discoverSpace(sp)
		peers, _, err := n.SpaceSync(n.ctx, sp)
		if err == nil && peers == 0 {
			lonely = true
		}
	}
	return lonely
}

func (n *Node) discoverSpace(sp keys.SpaceID) {
	provideErr := n.announce(sp)
	d := n.disc
	disc := keys.DiscoveryID(sp)
	ctx, cancel := context.WithTimeout(n.ctx, roundTimeout)
	found, lookErr := n.host.FindProviders(ctx, disc[:], maxProviders)
	cancel()

	d.mu.Lock()
	sl := d.spaces[sp]
	if sl == nil { // forgotten meanwhile (a join that failed)
		d.mu.Unlock()
		return
	}
	sl.looked = time.Now()
	sl.found = sl.found[:0]
	for _, p := range found {
		sl.found = append(sl.found, p.ID)
	}
	sl.err = errors.Join(provideErr, lookErr)
	d.mu.Unlock()

	for _, p := range found {
		if n.connected(p.ID) && !n.host.Relayed(p.ID) {
			continue
		}
		n.goReach(p, true)
	}
}

// holds reports whether sp is held (not forgotten by a failed join).
func (n *Node) holds(sp keys.SpaceID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.held, sp)
}

// announce provides sp in the DHT if provideDue says so, and records
// when it did. It returns the provide's error.
func (n *Node) announce(sp keys.SpaceID) error {
	d := n.disc
	if !n.holds(sp) {
		return nil // forgotten since the round began
	}
	d.mu.Lock()
	sl := d.spaces[sp]
	if sl == nil {
		sl = &spaceLookup{}
		d.spaces[sp] = sl
	}
	due := provideDue(sl.provided, d.addrsAt, time.Now())
	d.mu.Unlock()
	if !due {
		return nil
	}
	disc := keys.DiscoveryID(sp)
	ctx, cancel := context.WithTimeout(n.ctx, roundTimeout)
	err := n.host.Provide(ctx, disc[:])
	cancel()
	if err == nil {
		d.mu.Lock()
		sl.provided = time.Now()
		d.mu.Unlock()
	}
	return err
}

// reannounce announces again the held spaces whose provider records
// carry addresses the node no longer has (provideDue), without looking
// anything up: the lookup rounds keep their own schedule.
func (n *Node) reannounce() {
	for _, sp := range n.syncSpaces() {
		if n.ctx.Err() != nil {
			return
		}
		if err := n.announce(sp); err != nil {
			n.disc.mu.Lock()
			if sl := n.disc.spaces[sp]; sl != nil {
				sl.err = err
			}
			n.disc.mu.Unlock()
		}
	}
}

// goReach starts reachPeer on a goroutine the node owns, unless one runs
// for p.ID already: that one is woken from its pause instead.
func (n *Node) goReach(p p2p.PeerInfo, dial bool) {
	n.mu.Lock()
	if wake, ok := n.reaching[p.ID]; ok || n.ctx.Err() != nil {
		n.mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
		return
	}
	wake := make(chan struct{}, 1)
	n.reaching[p.ID] = wake
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		defer func() {
			n.mu.Lock()
			delete(n.reaching, p.ID)
			n.mu.Unlock()
		}()
		n.reachPeer(p, dial, wake)
	}()
}

// upgradeIfRelayed starts the upgrade loop of reachPeer if peer is
// connected only through a relay (after a connect to a ticket's relayed
// address, say).
func (n *Node) upgradeIfRelayed(peer keys.AuthorID) {
	if n.host != nil && n.host.Relayed(peer) {
		n.goReach(p2p.PeerInfo{ID: peer}, false)
	}
}

// reachPeer connects to a space peer (if dial) and, while the connection
// is relayed, keeps trying to upgrade it with backoff: the peer's single
// DCUtR attempt on the relayed connection is not enough (NETLAB.md point
// 4). After RelayAfter failures or RelayGrace, whichever comes first, it
// lets sync go through the relay, and from then on reconnects (through a
// relay) as soon as the connection ends (wake: the node's Notify hook
// tells it): a relay resets relayed connections at its limits. Run it
// through goReach: one runs per peer.
func (n *Node) reachPeer(p p2p.PeerInfo, dial bool, wake <-chan struct{}) {
	if dial && !n.dial(p) {
		return // the next lookup round tries again
	}
	grace := time.AfterFunc(RelayGrace, func() {
		if n.host.Relayed(p.ID) {
			n.host.UseRelay(p.ID)
		}
	})
	defer grace.Stop()
	pause := upgradeMin
	failed := 0
	for {
		if !n.connected(p.ID) {
			if !n.host.RelaySync(p.ID) || !n.dial(p) {
				return
			}
			continue
		}
		if !n.host.Relayed(p.ID) {
			return // direct
		}
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		err := n.host.Upgrade(ctx, p.ID)
		cancel()
		if err == nil {
			return
		}
		if failed++; failed == RelayAfter {
			n.host.UseRelay(p.ID)
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-wake:
			t.Stop()
		case <-n.ctx.Done():
			t.Stop()
			return
		}
		pause = min(2*pause, upgradeMax)
	}
}

// dial connects to p, through a relay if nothing else works, retrying
// with backoff for connectPatience. It reports whether p is connected.
func (n *Node) dial(p p2p.PeerInfo) bool {
	// The peer may not be reachable yet: behind a NAT it is reachable
	// only once it holds a relay reservation, some 20 s after it starts.
	// Dialling is cheaper than a DHT lookup, so retry it on its own.
	pause := connectMin
	for tried := time.Duration(0); !n.connected(p.ID); tried += pause {
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		err := n.host.ConnectAny(ctx, p)
		cancel()
		if err == nil {
			break
		}
		if tried > connectPatience || !n.sleep(pause) {
			return false
		}
		pause = min(2*pause, connectMax)
	}
	return true
}

// sleep waits for d, or reports false at once when the node closes.
func (n *Node) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// Discovery returns what the DHT told about each held space, in the
// order of the held spaces; nil when the node joins no DHT.
func (n *Node) Discovery() []SpaceDiscovery {
	if n.disc == nil {
		return nil
	}
	held := n.syncSpaces()
	d := n.disc
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]SpaceDiscovery, 0, len(held))
	for _, sp := range held {
		sd := SpaceDiscovery{Space: sp}
		if sl := d.spaces[sp]; sl != nil {
			sd.Provided, sd.Looked, sd.Err = sl.provided, sl.looked, sl.err
			sd.Found = slices.Clone(sl.found)
		}
		out = append(out, sd)
	}
	return out
}

// Reach reports how the node reaches peers: reachability, relays, DHT.
// The zero ReachInfo when offline.
func (n *Node) Reach() p2p.ReachInfo {
	if n.host == nil {
		return p2p.ReachInfo{}
	}
	return n.host.Reach()
}
