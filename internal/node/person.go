package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/store"
)

// The person's own space (issue 12): a private space per identity that
// holds what the person's devices share — the directory of the spaces
// they are in (with tickets and read keys), the person's name, and the
// link requests of devices being linked. docs/design.md, "The person's own
// space (#12)".
//
// Its space key and its epoch-0 read key derive from the identity key
// (identity.Key.PersonSpace), and its genesis is the same bytes whoever
// makes it (personGenesis): any device holding the identity key, or the
// phrase, finds the space and can start holding it, with nothing to look
// up and nothing to fork.

const (
	// personSpaceName is the person space's local name (freeName picks
	// another where it is taken).
	personSpaceName = "me"
	// Keys of the person space.
	personKey = "person"  // {"name": the person's name}, written at create
	dirPrefix = "spaces/" // spaces/<spc_…>: a dirEntry per space of the person
	// maxPersonValue bounds every value of the person space this node
	// decodes (a ticket with 32 addresses and many read keys is under 8 KiB).
	maxPersonValue = 32 << 10
	// maxFollowing bounds the joins the follower runs at once, and
	// followTimeout one of them; a space not reached is tried again after
	// followRetry.
	maxFollowing  = 4
	followTimeout = 2 * time.Minute
	followRetry   = time.Minute
	// personPace is the least time between two passes of the person
	// worker: events that come faster are taken together.
	personPace = 100 * time.Millisecond
)

// personGenesisTime is the time of every person space's genesis: fixed,
// so that the genesis is the same bytes on every device (2026-01-01 UTC).
var personGenesisTime = commit.HLC{Wall: uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())}

// personGenesis returns the genesis of the person space of identity k and
// its epoch-0 read key: signed by the derived space key, at
// personGenesisTime, with two ops — admin to the person, and the start of
// key epoch 0 sealed to nobody (every device of the person derives the key
// or is given it when linked).
func personGenesis(k identity.Key) (*commit.Commit, keys.EpochKey, error) {
	sk, rk := k.PersonSpace()
	ops := []commit.Op{
		commit.GrantOp(commit.PersonGrant(k.ID(), commit.RoleAdmin)),
		commit.RotateOp(commit.Rotate{Epoch: 0}),
	}
	c, err := commit.Build(commit.Header{Space: sk.Space(), Author: sk.Author(), Seq: 1, Time: personGenesisTime}, ops, sk)
	return c, keys.EpochKey{Epoch: 0, Key: rk}, err
}

// personOf reports the identity whose person space c is the genesis of:
// a genesis exactly of personGenesis's shape. A device being linked checks
// it before it asks to be certified (the certificate it gets back must be
// by that identity).
func personOf(c *commit.Commit) (keys.IdentityID, bool) {
	if c.Author != keys.AuthorID(c.Space) || c.Seq != 1 || c.Time != personGenesisTime || len(c.Ops) != 2 {
		return keys.IdentityID{}, false
	}
	g, err := commit.DecodeGrant(c.Ops[0])
	if err != nil || !g.Person || g.Role != commit.RoleAdmin || len(g.Prefix) != 0 || g.Expires != 0 {
		return keys.IdentityID{}, false
	}
	r, err := commit.DecodeRotate(c.Ops[1])
	if err != nil || r.Epoch != 0 || len(r.Keys) != 0 {
		return keys.IdentityID{}, false
	}
	return keys.IdentityID(g.Subject), true
}

// holdPerson starts holding the person space of identity k (its genesis
// made here, its read key derived), and returns its ID.
func (n *Node) holdPerson(ctx context.Context, k identity.Key) (keys.SpaceID, error) {
	g, ek, err := personGenesis(k)
	if err != nil {
		return keys.SpaceID{}, err
	}
	id := g.Space
	if err := n.rk.Add(id, []keys.EpochKey{ek}); err != nil {
		return keys.SpaceID{}, err
	}
	if _, err := n.st.Space(ctx, id); errors.Is(err, store.ErrUnknownSpace) {
		name, err := n.freeName(ctx, personSpaceName)
		if err != nil {
			return keys.SpaceID{}, err
		}
		if err := n.st.CreateSpace(ctx, name, g); err != nil {
			return keys.SpaceID{}, fmt.Errorf("node: the person's own space: %w", err)
		}
	} else if err != nil {
		return keys.SpaceID{}, err
	}
	n.addHeld(id)
	return id, nil
}

// PersonSpace returns the person's own space, when this device holds an
// identity and knows it.
func (n *Node) PersonSpace() (keys.SpaceID, bool) {
	n.people.mu.Lock()
	defer n.people.mu.Unlock()
	if n.people.id == nil || n.people.id.Person.IsZero() {
		return keys.SpaceID{}, false
	}
	return n.people.id.Person, true
}

// dirEntry is a space in the person's directory: what another device of
// the person needs to hold it too.
type dirEntry struct {
	Name   string `json:"name"`
	Ticket string `json:"ticket"` // no invite: the person's grants let its devices in
}

// personEntry is the person space's "person" value.
type personEntry struct {
	Name string `json:"name"`
}

// decodePersonValue decodes a JSON value of the person space strictly:
// bounded, no unknown fields, nothing after it.
func decodePersonValue(b []byte, v any) error {
	if len(b) > maxPersonValue {
		return fmt.Errorf("%d bytes, the limit is %d", len(b), maxPersonValue)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// decodeDirEntry decodes a directory entry of space sp strictly: its
// ticket is a ticket of sp without an invite.
func decodeDirEntry(sp keys.SpaceID, b []byte) (keys.Ticket, error) {
	var e dirEntry
	if err := decodePersonValue(b, &e); err != nil {
		return keys.Ticket{}, fmt.Errorf("directory entry: %w", err)
	}
	t, err := keys.ParseTicket(e.Ticket)
	if err != nil {
		return keys.Ticket{}, fmt.Errorf("directory entry: %w", err)
	}
	if t.Space != sp || !t.Invite.IsZero() {
		return keys.Ticket{}, fmt.Errorf("directory entry of %s: its ticket is of %s, or carries an invite", sp, t.Space)
	}
	if CheckName(e.Name) == nil {
		t.Name = e.Name
	}
	return t, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("node: encode %T: %v", v, err))
	}
	return b
}

// personState is the person worker's state, guarded by people.mu.
type personState struct {
	wake      chan struct{}              // buffered 1
	dir       map[keys.SpaceID]int       // spaces whose entry is written: the read keys it carries
	following map[keys.SpaceID]bool      // joins the follower runs
	tried     map[keys.SpaceID]time.Time // the last join the follower tried
	links     map[keys.AuthorID]*pendingLink
	profile   commit.HLC // of the newest profile seen in the person space
}

// kickPerson asks the person worker for a pass. It never blocks.
func (n *Node) kickPerson() {
	pp := &n.people
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.person.wake == nil {
		return
	}
	select {
	case pp.person.wake <- struct{}{}:
	default:
	}
}

// startPerson starts the person worker (once), owned by the node. Called
// with people.mu held.
func (n *Node) startPerson() {
	ps := &n.people.person
	if ps.wake != nil {
		return
	}
	ps.wake = make(chan struct{}, 1)
	ps.dir = map[keys.SpaceID]int{}
	ps.following = map[keys.SpaceID]bool{}
	ps.tried = map[keys.SpaceID]time.Time{}
	if ps.links == nil {
		ps.links = map[keys.AuthorID]*pendingLink{}
	}
	ps.wake <- struct{}{}
	n.wg.Go(func() {
		n.personWorker(ps.wake)
	})
}

// personWorker keeps the person space's directory, follows it and
// answers link requests, a pass per kick, until the node closes.
func (n *Node) personWorker(wake chan struct{}) {
	pace := time.NewTimer(0)
	defer pace.Stop()
	for n.woken(wake) {
		select { // at most one pass per personPace
		case <-pace.C:
		case <-n.ctx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, carryTimeout)
		if err := n.personPass(ctx); err != nil && n.ctx.Err() == nil {
			n.log.Warn("the person's own space: pass failed", "err", err)
		}
		cancel()
		pace.Reset(personPace)
	}
}

// personPass writes the directory entries that are missing or out of
// date, starts following the spaces of the directory not held here, and
// answers link requests.
func (n *Node) personPass(ctx context.Context) error {
	pid, ok := n.PersonSpace()
	if !ok {
		return nil
	}
	n.learnPersonName(ctx, pid)
	if err := n.answerLinks(ctx, pid); err != nil {
		return err
	}
	if err := n.writeDirectory(ctx, pid); err != nil {
		return err
	}
	if err := n.clearLeftMarks(ctx, pid); err != nil {
		return err
	}
	n.refreshOnNewProfile(ctx, pid)
	return n.follow(ctx, pid)
}

// writeDirectory writes, in one commit, the directory entry of every
// held space this device reads (not one it only seeds) whose entry is
// missing or carries fewer read keys than this node holds.
func (n *Node) writeDirectory(ctx context.Context, pid keys.SpaceID) error {
	n.mu.Lock()
	held := append([]keys.SpaceID(nil), n.held...)
	n.mu.Unlock()
	ps, err := n.openSpace(ctx, pid)
	if err != nil {
		return err
	}
	var ops []commit.Op
	var wrote []keys.SpaceID
	var counts []int
	for _, sp := range held {
		if sp == pid {
			continue
		}
		have := len(n.rk.All(sp))
		n.people.mu.Lock()
		done, ok := n.people.person.dir[sp]
		n.people.mu.Unlock()
		if ok && done >= have {
			continue
		}
		role, err := n.st.Role(ctx, sp, n.dev.Author())
		if err != nil || role == 0 || role == commit.RoleSeed {
			continue // a space it follows without a role yet, or seeds
		}
		key := []byte(dirPrefix + sp.String())
		if e, err := ps.Get(ctx, key); err == nil && !e.Tombstone() {
			if t, err := decodeDirEntry(sp, e.Value); err == nil && len(t.ReadKeys) >= have {
				n.people.mu.Lock()
				n.people.person.dir[sp] = len(t.ReadKeys)
				n.people.mu.Unlock()
				continue
			}
		}
		info, err := n.st.Space(ctx, sp)
		if err != nil {
			continue
		}
		t := keys.Ticket{Space: sp, Name: info.Name, Addrs: append(n.Addrs(), n.seederAddrs(ctx, sp)...), ReadKeys: n.rk.All(sp)}
		if len(t.Addrs) > 16 {
			t.Addrs = t.Addrs[:16]
		}
		ops = append(ops, commit.Put(key, mustJSON(dirEntry{Name: info.Name, Ticket: t.String()})))
		wrote, counts = append(wrote, sp), append(counts, have)
		if len(ops) == 64 {
			break // the rest in the next pass
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if ps.CheckWrite(ctx, ops) != nil {
		return nil // this device may not write there (yet)
	}
	if _, err := ps.Commit(ctx, ops); err != nil {
		return fmt.Errorf("write the directory: %w", err)
	}
	n.people.mu.Lock()
	for i, sp := range wrote {
		n.people.person.dir[sp] = counts[i]
	}
	more := len(ops) == 64
	n.people.mu.Unlock()
	if more {
		n.kickPerson()
	}
	return nil
}

// follow starts a join of every space of the directory not held here
// (maxFollowing at a time; one not reached is tried again after
// followRetry): a space the person joined or made on another device comes
// here too.
func (n *Node) follow(ctx context.Context, pid keys.SpaceID) error {
	if n.host == nil {
		return nil // offline: nothing to join from
	}
	ps, err := n.openSpace(ctx, pid)
	if err != nil {
		return err
	}
	for kv, err := range ps.Range(ctx, store.Query{Prefix: []byte(dirPrefix)}) {
		if err != nil {
			return err
		}
		sp, err := keys.ParseSpaceID(string(kv.Key[len(dirPrefix):]))
		if err != nil {
			continue
		}
		if _, err := n.st.Space(ctx, sp); err == nil || !errors.Is(err, store.ErrUnknownSpace) {
			continue // held (or the store failed: next pass)
		}
		if n.leave.has(sp) || n.leftHere(ctx, ps, sp) {
			continue // this device left it (leave.go)
		}
		t, err := decodeDirEntry(sp, kv.Entry.Value)
		if err != nil {
			n.log.Warn("the person's own space: a directory entry is malformed", "space", sp.String(), "err", err)
			continue
		}
		// The peers connected now (those this node syncs the person space
		// with, say) may hold the space when none of the entry's does.
		t.Addrs = append(t.Addrs, n.connectedAddrs(8)...)
		pp := &n.people
		pp.mu.Lock()
		busy := pp.person.following[sp] || len(pp.person.following) >= maxFollowing || time.Since(pp.person.tried[sp]) < followRetry
		if !busy {
			pp.person.following[sp] = true
			pp.person.tried[sp] = time.Now()
		}
		pp.mu.Unlock()
		if busy {
			continue
		}
		n.mu.Lock()
		if n.ctx.Err() != nil {
			n.mu.Unlock()
			return nil
		}
		n.wg.Add(1)
		n.mu.Unlock()
		go func() {
			defer n.wg.Done()
			jctx, cancel := context.WithTimeout(n.ctx, followTimeout)
			_, err := n.Join(jctx, t)
			cancel()
			if err != nil && n.ctx.Err() == nil {
				n.log.Info("the person's own space: could not hold a space of the directory yet", "space", sp.String(), "name", t.Name, "err", err)
			}
			pp.mu.Lock()
			delete(pp.person.following, sp)
			pp.mu.Unlock()
			n.kickPerson()
		}()
	}
	return nil
}

// learnPersonName takes the person's name from the person space when this
// device has none of its own (recovered from the phrase alone).
func (n *Node) learnPersonName(ctx context.Context, pid keys.SpaceID) {
	id := n.people.current()
	if id == nil || id.Name != placeholderName(id.ID) {
		return
	}
	ps, err := n.openSpace(ctx, pid)
	if err != nil {
		return
	}
	e, err := ps.Get(ctx, []byte(personKey))
	if err != nil || e.Tombstone() {
		return
	}
	var pe personEntry
	if decodePersonValue(e.Value, &pe) != nil || CheckPersonName(pe.Name) != nil {
		return
	}
	named := *id
	named.Name = pe.Name
	if err := n.saveIdentity(named); err != nil {
		n.log.Warn("the person's own space: could not save the person's name", "err", err)
	}
}

// placeholderName is the person's name on a device recovered from the
// phrase alone until the person space tells it: the identity's short ID.
func placeholderName(id keys.IdentityID) string { return id.Short() }

// dialPeers dials peers that hold the person space (recovery) and keeps
// them in the peer book for it; a failure is logged, not returned: the DHT
// or mDNS may still find the space.
func (n *Node) dialPeers(ctx context.Context, pid keys.SpaceID, peers []string) {
	if n.host == nil || len(peers) == 0 {
		return
	}
	t := keys.Ticket{Space: pid, Addrs: peers}
	if _, err := n.dialTicket(ctx, t); err != nil {
		n.log.Warn("the person's own space: peers not reached", "err", err)
	}
	n.rememberTicket(t)
}

// writePersonName writes the person's name into the person space (at
// create: a device recovered from the phrase learns it there).
func (n *Node) writePersonName(ctx context.Context, id Identity) error {
	ps, err := n.openSpace(ctx, id.Person)
	if err != nil {
		return err
	}
	if _, err := ps.Commit(ctx, []commit.Op{commit.Put([]byte(personKey), mustJSON(personEntry{Name: id.Name}))}); err != nil {
		return fmt.Errorf("node: write the person's name: %w", err)
	}
	return nil
}

// connectedAddrs returns the p2p addresses (with /p2p/) of up to max
// peers connected directly now, one address each.
func (n *Node) connectedAddrs(max int) []string {
	var out []string
	for _, p := range n.host.Peers() {
		if len(out) == max {
			break
		}
		if p.Connected && p.Direct && len(p.Addrs) > 0 {
			out = append(out, p.Addrs[0]+"/p2p/"+p2p.PeerIDString(p.ID))
		}
	}
	return out
}

// refreshOnNewProfile writes the person's profile into every held space
// (refreshProfile) when a newer one than last seen is in force in the
// person space: a profile set on another device reaches the spaces only
// this one holds.
func (n *Node) refreshOnNewProfile(ctx context.Context, pid keys.SpaceID) {
	id, err := n.Identity(ctx)
	if err != nil {
		return
	}
	cur, _, err := n.profileIn(ctx, pid, id.ID, false)
	if err != nil || cur == nil {
		return
	}
	n.people.mu.Lock()
	seen := n.people.person.profile
	newer := seen.Less(cur.Time)
	if newer {
		n.people.person.profile = cur.Time
	}
	n.people.mu.Unlock()
	if !newer {
		return
	}
	if k, err := n.refreshProfile(ctx); err != nil {
		n.log.Warn("the person's profile: not written everywhere", "err", err)
	} else if k > 0 {
		n.log.Info("the person's profile written", "spaces", k)
	}
}
