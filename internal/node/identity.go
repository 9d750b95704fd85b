package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/durable"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// A person's identity on this device (issue 12): the identity file
// (identityfile.go), and the certificate this device carries into every
// space it holds where it may write. docs/design.md, "People (#12)".

// Errors of identities.
var (
	// ErrIdentityExists: the home already holds an identity; a home is
	// one device of one person.
	ErrIdentityExists = errors.New("this home already holds an identity")
	// ErrNoIdentity: the home holds no identity.
	ErrNoIdentity = errors.New("this device holds no identity")
)

// Identity is the person's identity as this device holds it.
type Identity struct {
	ID   keys.IdentityID
	Name string        // the person's name, as given when the identity was made
	Cert identity.Cert // this device's certificate
	// Person is the person's own space (person.go); zero until this
	// device holds it.
	Person keys.SpaceID
	key    identity.Key // zero when the key lives only in the recovery phrase
}

// HoldsKey reports whether this device holds the identity key (it can
// certify and revoke devices without the phrase).
func (id Identity) HoldsKey() bool { return !id.key.IsZero() }

// IdentityOptions describe a new identity.
type IdentityOptions struct {
	// Device names this device in its certificate ("": the host name).
	Device string
	// PhraseOnly keeps the identity key out of the home: only the recovery
	// phrase holds it.
	PhraseOnly bool
	// Peers are addresses (multiaddrs with /p2p/) of peers that hold the
	// person's own space, to recover it from (besides the DHT and mDNS).
	Peers []string
}

// people is the node's identity and its certificate carrier. The carrier
// goroutine, started once an identity is held, writes this device's
// certificate into the spaces kick names.
type people struct {
	mu      sync.Mutex            // guards the fields below
	id      *Identity             // nil without an identity
	done    map[keys.SpaceID]bool // spaces whose certificate is carried and counts
	pending map[keys.SpaceID]bool // spaces to look at
	wake    chan struct{}         // buffered 1; nil until the carrier runs

	person personState // the person worker (person.go)

	create sync.Mutex // one CreateIdentity at a time
	carry  sync.Mutex // one carry at a time: none races another into a space
}

// current returns the identity this device holds, nil without one.
func (pp *people) current() *Identity {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.id
}

// loadIdentity reads the home's identity file, if any, and starts the
// carrier for every held space. Called by Open.
func (n *Node) loadIdentity() error {
	b, err := os.ReadFile(filepath.Join(n.home, identityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && len(b) > maxIdentityFile {
		err = fmt.Errorf("%w: %d bytes", ErrBadIdentityFile, len(b))
	}
	if err != nil {
		return fmt.Errorf("node: read the identity: %w", err)
	}
	id, err := decodeIdentity(b, n.dev.Author())
	if err != nil {
		return fmt.Errorf("node: %s: %w (restore it from a backup, or recover the identity from its phrase in a new home)", filepath.Join(n.home, identityFile), err)
	}
	n.startCarrier(&id)
	return nil
}

// Identity returns the identity this device holds (ErrNoIdentity if none).
func (n *Node) Identity(ctx context.Context) (Identity, error) {
	if err := n.Closed(); err != nil {
		return Identity{}, err
	}
	n.people.mu.Lock()
	defer n.people.mu.Unlock()
	if n.people.id == nil {
		return Identity{}, fmt.Errorf("%w: create one with 'loam id create --name NAME'", ErrNoIdentity)
	}
	return *n.people.id, nil
}

// CreateIdentity makes a new identity for the person named name: a new
// recovery phrase, the identity key derived from it, and this device's
// certificate. It keeps them in HOME/identity (the key only without
// o.PhraseOnly), writes the certificate into every space held here where
// this device may write, and returns the phrase: the caller shows it once
// to the person, and it is kept nowhere else.
func (n *Node) CreateIdentity(ctx context.Context, name string, o IdentityOptions) (Identity, identity.Phrase, error) {
	p, err := identity.NewPhrase(rand.Reader)
	if err != nil {
		return Identity{}, identity.Phrase{}, err
	}
	if err := CheckPersonName(name); err != nil {
		return Identity{}, identity.Phrase{}, err
	}
	id, err := n.RecoverIdentity(ctx, p, name, o)
	if err != nil {
		return Identity{}, identity.Phrase{}, err
	}
	if err := n.writePersonName(ctx, id); err != nil {
		return Identity{}, identity.Phrase{}, err
	}
	return id, p, nil
}

// RecoverIdentity makes this device one of the devices of the identity of
// phrase p, as CreateIdentity does for a new phrase: it certifies this
// device with the phrase's key, keeps the identity in HOME/identity,
// starts holding the person's own space (from which the person's other
// spaces follow, once a peer that holds it is reached: o.Peers, the DHT or
// mDNS) and carries the certificate into the spaces held here. name may
// be empty: the person's name then comes from the person's own space.
func (n *Node) RecoverIdentity(ctx context.Context, p identity.Phrase, name string, o IdentityOptions) (Identity, error) {
	k := p.Key()
	if name == "" {
		name = placeholderName(k.ID())
	}
	if err := CheckPersonName(name); err != nil {
		return Identity{}, err
	}
	dev := o.Device
	if dev == "" {
		dev = defaultDeviceName()
	}
	n.people.create.Lock()
	defer n.people.create.Unlock()
	if cur, err := n.Identity(ctx); err == nil {
		return Identity{}, fmt.Errorf("%w: %s (%s); a home is one device of one person: use another home (LOAM_HOME) for another identity", ErrIdentityExists, cur.ID, cur.Name)
	} else if !errors.Is(err, ErrNoIdentity) {
		return Identity{}, err
	}
	pid, err := n.holdPerson(ctx, k)
	if err != nil {
		return Identity{}, err
	}
	id, err := n.certify(k, name, dev, o.PhraseOnly, pid)
	if err != nil {
		return Identity{}, err
	}
	n.dialPeers(ctx, pid, o.Peers)
	n.carryAll(ctx)
	return id, nil
}

// certify makes this device's certificate under key k, saves the identity
// file (naming person, the person's own space) and starts the carrier.
func (n *Node) certify(k identity.Key, name, dev string, phraseOnly bool, person keys.SpaceID) (Identity, error) {
	now := n.clock.Now().Wall
	cert, err := identity.NewCert(k, n.dev, dev, now)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: device name: %w", ErrBadPersonName, err)
	}
	id := Identity{ID: k.ID(), Name: name, Cert: cert, Person: person}
	if !phraseOnly {
		id.key = k
	}
	if err := n.saveIdentity(id); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// saveIdentity writes id to the identity file and makes it the node's,
// starting the carrier and the person worker if they do not run.
func (n *Node) saveIdentity(id Identity) error {
	if err := durable.WriteFile(filepath.Join(n.home, identityFile), encodeIdentity(id)); err != nil {
		return fmt.Errorf("node: save the identity: %w", err)
	}
	n.startCarrier(&id)
	return nil
}

// defaultDeviceName is the host name, or "device" when it is not a valid
// device name.
func defaultDeviceName() string {
	h, err := os.Hostname()
	if err != nil || CheckPersonName(h) != nil || len(h) > identity.MaxDeviceName {
		return "device"
	}
	return h
}

// startCarrier sets the identity and starts the carrier goroutine (once),
// owned by the node.
func (n *Node) startCarrier(id *Identity) {
	pp := &n.people
	pp.mu.Lock()
	pp.id = id
	start := pp.wake == nil
	if start {
		pp.wake = make(chan struct{}, 1)
		pp.done, pp.pending = map[keys.SpaceID]bool{}, map[keys.SpaceID]bool{}
	}
	pp.mu.Unlock()
	n.startDevices(id) // the revocation carrier (devcarrier.go)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, sp := range n.held {
		n.kickCarrier(sp)
	}
	if n.ctx.Err() == nil && n.opened { // wg.Add only while Close has not begun
		pp.mu.Lock()
		n.startPerson()
		pp.mu.Unlock()
	}
	if !start || n.ctx.Err() != nil {
		return
	}
	n.wg.Go(func() {
		n.carrier()
	})
}

// kickCarrier asks the carrier to look at space sp: called when the store
// stored something there (the device may have been granted a role). It
// never blocks.
func (n *Node) kickCarrier(sp keys.SpaceID) {
	pp := &n.people
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.id == nil || pp.done[sp] || pp.pending[sp] {
		return
	}
	pp.pending[sp] = true
	select {
	case pp.wake <- struct{}{}:
	default:
	}
}

// carrier carries the certificate into the spaces kicked, until the node
// closes.
func (n *Node) carrier() {
	pp := &n.people
	for n.woken(pp.wake) {
		pp.mu.Lock()
		todo := make([]keys.SpaceID, 0, len(pp.pending))
		for sp := range pp.pending {
			todo = append(todo, sp)
		}
		clear(pp.pending)
		pp.mu.Unlock()
		for _, sp := range todo {
			n.carryOne(n.ctx, sp)
		}
	}
}

// carryAll carries the certificate into every held space now.
func (n *Node) carryAll(ctx context.Context) {
	n.mu.Lock()
	held := append([]keys.SpaceID(nil), n.held...)
	n.mu.Unlock()
	for _, sp := range held {
		n.carryOne(ctx, sp)
	}
}

// carryTimeout bounds the carrying of the certificate into one space.
const carryTimeout = 30 * time.Second

// carryOne carries the certificate into sp, logging a failure: carrying
// is done again at the next kick.
func (n *Node) carryOne(ctx context.Context, sp keys.SpaceID) {
	ctx, cancel := context.WithTimeout(ctx, carryTimeout)
	defer cancel()
	done, err := n.carryCert(ctx, sp)
	if err != nil && n.ctx.Err() == nil {
		n.log.Warn("certificate not carried", "space", sp.String(), "err", err)
	}
	if done {
		n.people.mu.Lock()
		n.people.done[sp] = true
		n.people.mu.Unlock()
	}
	n.carryProfile(ctx, sp) // profile.go
}

// carryCert writes this device's certificate into space sp, once: it
// reports done when the certificate is there (now or before). Where this
// device may not write (a follower without a role, a revoked device) it
// writes nothing and reports not done, without an error: a later grant
// kicks the carrier again.
func (n *Node) carryCert(ctx context.Context, sp keys.SpaceID) (done bool, err error) {
	n.people.carry.Lock()
	defer n.people.carry.Unlock()
	id := n.people.current()
	if id == nil {
		return false, nil
	}
	acc, err := n.st.Access(ctx, sp)
	if err != nil {
		return false, err
	}
	for _, g := range acc.Certs(n.dev.Author()) {
		if g.Identity == id.ID {
			return true, nil
		}
	}
	s, err := n.openSpace(ctx, sp)
	if err != nil {
		return false, err
	}
	ops := []commit.Op{commit.CertOp(id.Cert.Encode())}
	if s.CheckWrite(ctx, ops) != nil {
		return false, nil // no role here (yet)
	}
	// A seeder is a machine, not its owner: it says nothing of whose it
	// is. Decided after CheckWrite, on access at least as new as the one
	// CheckWrite saw (a seed grant arriving in between would pass it).
	if acc, err = n.st.Access(ctx, sp); err != nil {
		return false, err
	}
	if acc.Role(n.dev.Author()) == commit.RoleSeed && acc.PersonRole(id.ID, commit.HLC{Wall: uint64(time.Now().UnixMicro())}) == 0 {
		return false, nil
	}
	if _, err := s.Commit(ctx, ops); err != nil {
		return false, fmt.Errorf("node: carry the certificate: %w", err)
	}
	return true, nil
}
