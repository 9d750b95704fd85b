package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Joins are recorded before they start, in HOME/spaces/<space>.join, and
// the record is removed when they end: a join that succeeded, or failed
// and left nothing behind. A record found at start is a join the process
// did not finish (killed): the node resumes it. docs/design.md,
// "Reconnecting, tickets and joins (#10)".
const (
	joinSuffix = ".join"
	// joinPatience bounds a resumed join: past it since the join began,
	// it gives up and the space goes.
	joinPatience = 24 * time.Hour
	// ticketDialTimeout bounds one round of dials to a ticket's peers.
	ticketDialTimeout = 15 * time.Second
	// ticketRedialMin and ticketRedialMax bound the pause between rounds
	// of dials to a ticket's peers while a join waits and none of them is
	// connected.
	ticketRedialMin = time.Second
	ticketRedialMax = 30 * time.Second
	// forgetTimeout bounds the removal of a space a failed join added.
	forgetTimeout = 30 * time.Second
)

// pendingJoin is the record of a join under way.
type pendingJoin struct {
	Ticket  keys.Ticket
	Started time.Time // to the second
	// Added is set when the space was not held when the join began: if
	// the join fails, the space goes. Keys is set when the ticket brought
	// the space's first read keys: their file goes too.
	Added, Keys bool
}

type wirePendingJoin struct {
	Ticket  string `cbor:"1,keyasint"`
	Started uint64 `cbor:"2,keyasint"` // Unix seconds
	Added   bool   `cbor:"3,keyasint,omitempty"`
	Keys    bool   `cbor:"4,keyasint,omitempty"`
}

// ErrBadJoinRecord wraps the errors of decodePendingJoin.
var ErrBadJoinRecord = errors.New("malformed join record")

var joinDec = keys.StrictCBOR(keys.CBORLimits{Nesting: 4, ArrayElems: 16, MapPairs: 16, Closed: true})

func encodePendingJoin(pj pendingJoin) []byte {
	b, err := keys.CanonicalCBOR.Marshal(wirePendingJoin{Ticket: pj.Ticket.String(), Started: uint64(pj.Started.Unix()), Added: pj.Added, Keys: pj.Keys})
	if err != nil {
		panic(fmt.Sprintf("node: encode join record: %v", err))
	}
	return b
}

// decodePendingJoin decodes a join record strictly: it accepts exactly
// what encodePendingJoin writes.
func decodePendingJoin(b []byte) (pendingJoin, error) {
	if len(b) > 16<<10 {
		return pendingJoin{}, fmt.Errorf("%w: %d bytes", ErrBadJoinRecord, len(b))
	}
	var w wirePendingJoin
	if err := joinDec.Unmarshal(b, &w); err != nil {
		return pendingJoin{}, fmt.Errorf("%w: %v", ErrBadJoinRecord, err)
	}
	t, err := keys.ParseTicket(w.Ticket)
	if err != nil || t.String() != w.Ticket {
		return pendingJoin{}, fmt.Errorf("%w: its ticket cannot be read", ErrBadJoinRecord)
	}
	if w.Started == 0 || w.Started > 1<<40 {
		return pendingJoin{}, fmt.Errorf("%w: start time %d", ErrBadJoinRecord, w.Started)
	}
	return pendingJoin{Ticket: t, Started: time.Unix(int64(w.Started), 0), Added: w.Added, Keys: w.Keys}, nil
}

// joinFile names the record of a join of sp.
func (n *Node) joinFile(sp keys.SpaceID) string {
	return filepath.Join(n.home, "spaces", sp.String()+joinSuffix)
}

// pendingJoins reads the records of the joins a previous run did not
// finish. A record that cannot be read is left alone.
func (n *Node) pendingJoins() []pendingJoin {
	var out []pendingJoin
	_ = readSpaceFiles(filepath.Join(n.home, "spaces"), joinSuffix, func(id keys.SpaceID, _ string, b []byte) error {
		if pj, err := decodePendingJoin(b); err == nil && pj.Ticket.Space == id {
			out = append(out, pj)
		}
		return nil
	})
	return out
}

// Join joins the space of a ticket: it connects to the ticket's peers,
// starts holding the space (which, with a DHT, looks up its other
// holders, and with mDNS syncs with those on the LAN: the ticket's
// addresses may then all be unreachable, or absent), waits until the
// invite key's grant has arrived by sync, and commits this device's
// self-grant through the invite: to its person, with its certificate in
// the same commit, when this device holds an identity (joinAsPerson);
// else, or for a seed invite, to the device. It returns once the space is
// writable (or readable, for a read invite), or when ctx ends.
//
// The join is recorded first: if the process dies before it ends, the
// node resumes it at its next start. A join that fails, or that ctx ends,
// leaves nothing behind: no space, no key file, no name taken.
func (n *Node) Join(ctx context.Context, t keys.Ticket) (*space.Space, error) {
	if n.host == nil {
		return nil, ErrOffline
	}
	if len(t.Addrs) == 0 && !n.canFind() {
		return nil, errors.New("node: join: the ticket names no peer to reach, and this node has no DHT and no mDNS to find one (start the daemon with --dht, or --mdns on the same LAN as a peer)")
	}
	unlock, err := n.lockJoin(ctx, t.Space, nil)
	if err != nil {
		return nil, err
	}
	defer unlock()
	pj, err := n.beginJoin(ctx, t)
	if err != nil {
		return nil, err
	}
	sp, err := n.runJoin(ctx, pj, false)
	return sp, n.endJoin(pj, err)
}

// canFind reports whether the node can find peers without addresses.
func (n *Node) canFind() bool { return n.disc != nil || n.mdns }

// joinTurn is a join's turn at a space: one join of a space runs at a
// time.
type joinTurn struct {
	done chan struct{} // closed when the join ends
	// takeOver, for a resumed join, cancels it so that a join its user
	// started takes its place (and its record); nil otherwise.
	takeOver context.CancelCauseFunc
}

// errTakenOver ends a resumed join that a join started by a user replaces.
var errTakenOver = errors.New("node: join: taken over by a new join of the space")

// lockJoin waits until no other join of sp runs, and returns the function
// that ends this one's turn. A resumed join in the way (resume set for
// the new join to be one: nothing waits for it) is taken over when the new
// join is not itself resumed: its user is waiting.
func (n *Node) lockJoin(ctx context.Context, sp keys.SpaceID, resume context.CancelCauseFunc) (func(), error) {
	rc := n.rc
	for {
		rc.mu.Lock()
		busy, ok := rc.joining[sp]
		if !ok {
			turn := &joinTurn{done: make(chan struct{}), takeOver: resume}
			rc.joining[sp] = turn
			rc.mu.Unlock()
			return func() {
				rc.mu.Lock()
				delete(rc.joining, sp)
				rc.mu.Unlock()
				close(turn.done)
			}, nil
		}
		rc.mu.Unlock()
		if resume == nil && busy.takeOver != nil {
			busy.takeOver(errTakenOver)
		}
		select {
		case <-busy.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.ctx.Done():
			return nil, n.ctx.Err()
		}
	}
}

// beginJoin decides what a failure of a join of t would have to remove,
// and records the join durably before anything else happens.
func (n *Node) beginJoin(ctx context.Context, t keys.Ticket) (pendingJoin, error) {
	pj := pendingJoin{Ticket: t, Started: time.Now().Truncate(time.Second)}
	_, err := n.st.Space(ctx, t.Space)
	switch {
	case errors.Is(err, store.ErrUnknownSpace):
		pj.Added = true
		pj.Keys = len(t.ReadKeys) > 0 && len(n.rk.All(t.Space)) == 0
	case err != nil:
		return pj, err
	}
	if b, err := os.ReadFile(n.joinFile(t.Space)); err == nil {
		// A join of the space that a previous run did not finish: this
		// one takes over what it would have removed.
		if old, err := decodePendingJoin(b); err == nil {
			pj.Added = pj.Added || old.Added
			pj.Keys = pj.Keys || old.Keys
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return pj, fmt.Errorf("node: join: %w", err)
	}
	if err := replaceFile(n.joinFile(t.Space), encodePendingJoin(pj)); err != nil {
		return pj, fmt.Errorf("node: join: record the join: %w", err)
	}
	return pj, nil
}

// endJoin ends a join that runJoin ended with err: a join that succeeded
// is no longer recorded; one that failed or was given up removes what it
// added, and its record; one cut short by the node closing stays
// recorded, to resume at the next start. It returns err.
func (n *Node) endJoin(pj pendingJoin, err error) error {
	sp := pj.Ticket.Space
	n.logJoin(pj.Ticket, err)
	switch {
	case err == nil:
		n.rememberTicket(pj.Ticket)
	case n.ctx.Err() != nil:
		return err
	case pj.Added:
		if ferr := n.forgetJoined(pj); ferr != nil {
			return errors.Join(err, ferr) // the record stays: the next start tries again
		}
	}
	if rerr := os.Remove(n.joinFile(sp)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return errors.Join(err, fmt.Errorf("node: join: remove the join record: %w", rerr))
	}
	return err
}

// forgetJoined removes what a join that failed added: the space and all
// of it, the read keys it brought and the invite keys it kept.
func (n *Node) forgetJoined(pj pendingJoin) error {
	id := pj.Ticket.Space
	n.mu.Lock()
	if i := slices.Index(n.held, id); i >= 0 {
		n.held = slices.Delete(n.held, i, i+1)
	}
	delete(n.spaces, id)
	n.mu.Unlock()
	if n.disc != nil {
		n.disc.mu.Lock()
		delete(n.disc.spaces, id)
		n.disc.mu.Unlock()
	}
	n.rc.book.forget(id)
	ctx, cancel := context.WithTimeout(n.ctx, forgetTimeout)
	defer cancel()
	if err := n.st.Forget(ctx, id); err != nil && !errors.Is(err, store.ErrUnknownSpace) {
		return fmt.Errorf("node: join: remove the space the join added: %w", err)
	}
	if err := os.RemoveAll(n.snapDir(id)); err != nil { // a snapshot the join installed (bootstrap.go)
		return fmt.Errorf("node: join: remove the snapshot the join kept: %w", err)
	}
	return n.rk.Forget(id, pj.Keys)
}

// runJoin runs a join recorded as pj. A resumed join (after a restart)
// does not give up when none of the ticket's peers answers: it keeps
// dialling them until ctx ends.
func (n *Node) runJoin(ctx context.Context, pj pendingJoin, resumed bool) (*space.Space, error) {
	t := pj.Ticket
	reached, dialErr := n.dialTicket(ctx, t)
	if len(reached) == 0 && !n.canFind() && !resumed {
		return nil, fmt.Errorf("%w: none of the ticket's peers answered (is the inviting node running?): %w", ErrUnreachable, dialErr)
	}
	// Until the join ends, keep dialling the ticket's peers while none is
	// connected: the inviter may come up later, or a connection drop.
	rctx, stopRedial := context.WithCancel(ctx)
	defer stopRedial()
	n.mu.Lock()
	if err := n.ctx.Err(); err != nil { // Close has begun: no goroutine may start
		n.mu.Unlock()
		return nil, err
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		n.redialTicket(rctx, t)
	}()

	if len(t.ReadKeys) > 0 { // before the space is held, so the view is built with them
		if err := n.rk.Add(t.Space, t.ReadKeys); err != nil {
			return nil, err
		}
		if !t.Invite.IsZero() {
			if err := n.rk.Joining(t.Space, t.Invite); err != nil {
				return nil, err
			}
		}
	}
	if _, err := n.st.Space(ctx, t.Space); errors.Is(err, store.ErrUnknownSpace) {
		name, err := n.freeName(ctx, t.Name)
		if err != nil {
			return nil, err
		}
		// A public space's fresh joiner may first ask for a checkpoint's
		// snapshot (bootstrap.go; not with Options.FullJoin); without one it
		// syncs the whole history.
		if len(t.ReadKeys) > 0 || !n.snapshotJoin || !n.bootstrap(ctx, t.Space, name, reached) {
			if err := n.st.AddSpace(ctx, name, t.Space); err != nil {
				return nil, err
			}
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
	if again, err := n.deepenToJoin(ctx, t.Space); err != nil {
		return nil, fmt.Errorf("node: join: %w", err)
	} else if again {
		// Decided again from the whole history: the invite may no longer count.
		acc, err := n.st.Access(ctx, t.Space)
		if err != nil {
			return nil, err
		}
		granted = acc.Role(inv)
		dead = granted == 0 && len(acc.Grants(inv)) > 0
		_, revoked = acc.Cuts[inv]
		if granted == 0 && !dead {
			return nil, fmt.Errorf("node: join: the invite's grant does not count in the space's whole history")
		}
	}
	if acc, err := n.st.Access(ctx, t.Space); err != nil {
		return nil, err
	} else if cut, ok := acc.Cuts[n.dev.Author()]; ok {
		// Revoked here (as a member, a device or a person): no ticket
		// brings this device back, whatever its person still holds.
		return nil, fmt.Errorf("%w: this device, %s, was revoked in %s (its commits after seq %d do not count) and cannot join it again: join from another device, or ask an admin", space.ErrReadOnly, n.dev.Author().Short(), t.Name, cut)
	}
	if mine, _ := n.st.Role(ctx, t.Space, n.dev.Author()); dead && mine != 0 {
		return n.openSpace(ctx, t.Space) // joined before
	}
	id, idErr := n.Identity(ctx)
	if dead && idErr == nil {
		sp, err := n.openSpace(ctx, t.Space)
		if err != nil {
			return nil, err
		}
		if joined, err := n.joinAsPerson(ctx, sp, t, 0, id); joined || err != nil {
			return sp, err // the person joined before
		}
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
	if idErr == nil && granted != commit.RoleSeed { // a seeder is a machine, not a person
		if _, err := n.joinAsPerson(ctx, sp, t, granted, id); err != nil {
			return nil, err
		}
		return sp, nil
	}
	if _, err := sp.Join(ctx, commit.InviteGrant(t.Space, n.dev.Author(), granted, t.Invite), nil); err != nil {
		return nil, fmt.Errorf("node: join: %w", err)
	}
	return sp, nil
}

// joinAsPerson joins space sp through the invite of t as this device's
// person, id (#12): one commit carries the device's certificate (unless
// the space holds it already) and the self-grant of role granted to the
// person, so that every device the identity certifies holds it, the
// devices linked later too. A person that holds granted there already
// (or write or admin; any role, when granted is 0: the invite is void)
// does not join again: the device only carries its certificate, and
// joined reports true. With granted 0 and no role of the person, it does
// nothing and reports false.
func (n *Node) joinAsPerson(ctx context.Context, sp *space.Space, t keys.Ticket, granted commit.Role, id Identity) (joined bool, err error) {
	n.people.carry.Lock() // the carrier would carry the certificate a second time
	defer n.people.carry.Unlock()
	acc, err := n.st.Access(ctx, t.Space)
	if err != nil {
		return false, err
	}
	var cert []byte
	if !slices.ContainsFunc(acc.Certs(n.dev.Author()), func(g acl.Grant) bool { return g.Identity == id.ID }) {
		cert = id.Cert.Encode()
	}
	had := acc.PersonRole(id.ID, commit.HLC{Wall: uint64(time.Now().UnixMicro())})
	if had != 0 && (granted == 0 || had == granted || acl.CanWrite(had)) {
		if cert != nil {
			if _, err := sp.Commit(ctx, []commit.Op{commit.CertOp(cert)}); err != nil {
				return false, fmt.Errorf("node: join: carry this device's certificate (%s holds %s here already): %w", id.ID.Short(), had, err)
			}
		}
		return true, nil
	}
	if granted == 0 {
		return false, nil
	}
	if _, err := sp.Join(ctx, commit.InvitePersonGrant(t.Space, id.ID, granted, t.Invite), cert); err != nil {
		return false, fmt.Errorf("node: join: %w", err)
	}
	return true, nil
}

// dialTicket dials every peer of t at once (ticketDialTimeout at most)
// and returns those reached.
func (n *Node) dialTicket(ctx context.Context, t keys.Ticket) ([]keys.AuthorID, error) {
	if len(t.Addrs) == 0 {
		return nil, nil
	}
	cctx, cancel := context.WithTimeout(ctx, ticketDialTimeout)
	defer cancel()
	reached, err := n.host.ConnectAddrs(cctx, t.Addrs)
	for _, peer := range reached {
		n.upgradeIfRelayed(peer)
	}
	return reached, err
}

// redialTicket dials t's peers again, with backoff, whenever none of them
// is connected, until ctx ends.
func (n *Node) redialTicket(ctx context.Context, t keys.Ticket) {
	peers := p2p.AddrsByPeer(t.Addrs)
	if len(peers) == 0 {
		return
	}
	pause := ticketRedialMin
	for {
		timer := time.NewTimer(pause)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
		some := false
		for p := range peers {
			some = some || n.connected(p)
		}
		if some {
			pause = ticketRedialMin
			continue
		}
		n.dialTicket(ctx, t)
		pause = min(2*pause, ticketRedialMax)
	}
}

// rememberTicket puts the peers of a ticket just joined with into the
// peer book, for the space: a node that knows its peers only from the
// ticket finds them again after a restart.
func (n *Node) rememberTicket(t keys.Ticket) {
	now := time.Now()
	for p, addrs := range p2p.AddrsByPeer(t.Addrs) {
		if p != n.dev.Author() {
			n.rc.book.record(t.Space, p, addrs, now)
		}
	}
	n.rc.saveBook()
}

// resumeJoins resumes, on goroutines the node owns, the joins a previous
// run did not finish.
func (n *Node) resumeJoins() {
	for _, pj := range n.pendingJoins() {
		n.wg.Go(func() {
			n.resumeJoin(pj)
		})
	}
}

// resumeJoin runs a recorded join again, until it succeeds, fails for
// good, joinPatience has passed since it began, or the node closes. A join
// of the space started meanwhile takes it over: this one then ends and
// leaves the record to it.
func (n *Node) resumeJoin(pj pendingJoin) {
	dctx, cancelDeadline := context.WithDeadline(n.ctx, pj.Started.Add(joinPatience))
	defer cancelDeadline()
	ctx, takeOver := context.WithCancelCause(dctx)
	defer takeOver(nil)
	unlock, err := n.lockJoin(ctx, pj.Ticket.Space, takeOver)
	if err != nil {
		return
	}
	defer unlock()
	if b, err := os.ReadFile(n.joinFile(pj.Ticket.Space)); err != nil || string(b) != string(encodePendingJoin(pj)) {
		return // a join that held the lock before this one ended it
	}
	_, err = n.runJoin(ctx, pj, true)
	if errors.Is(context.Cause(ctx), errTakenOver) {
		return
	}
	n.endJoin(pj, err)
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
