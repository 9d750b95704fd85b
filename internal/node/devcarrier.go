package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// The revocation carrier: every device of a person carries every device
// revocation signed by its identity that it finds in any held space into
// every other held space where the revoked device is certified and not
// cut yet, as a devrevoke op cut after the revoked device's latest commit
// held here. So a revocation made on the laptop reaches the spaces only
// the home server holds. It runs on its own goroutine, owned by the node,
// woken by the store's events that may change what is to carry (a
// revocation, a certificate, a grant or a revocation arriving, the space
// decided again) and once when the identity is loaded, when it also
// searches the held spaces for the revocations of devices cut there.
// docs/design.md, "Revoking devices and people (#12)".

// maxKnownRevocations bounds the revocations of the identity the carrier
// keeps (a person has a handful of devices; only the identity key signs
// one). Past it, new ones are not carried by this device (logged).
const maxKnownRevocations = 256

// devCarrier is the revocation carrier's state.
type devCarrier struct {
	mu        sync.Mutex                 // guards the fields below; never held across I/O
	known     map[keys.AuthorID]knownRev // the identity's revocations, by revoked device
	dirty     map[keys.SpaceID]bool      // spaces to look at
	all       bool                       // look at every held space, and search them
	learnKeys bool                       // learn the read keys sealed to the identity (rk.LearnStored)
	searched  map[keys.SpaceID]bool      // spaces searched for the revocations of their cuts
	// rekey holds, per private space, the devices a devrevoke cut there
	// (of any identity): an admin rotates the read key if the latest
	// rotation still seals to one (rekeyAfterCut). At most
	// maxKnownRevocations devices per space.
	rekey   map[keys.SpaceID][]keys.AuthorID
	wake    chan struct{} // buffered 1
	started bool

	run sync.Mutex // one carry at a time: none races another into a space
}

// knownRev is a revocation and its encoding (as carried).
type knownRev struct {
	rev identity.Revocation
	enc []byte
}

// init makes the maps and the wake channel. dc.mu is held.
func (dc *devCarrier) init() {
	if dc.wake == nil {
		dc.wake = make(chan struct{}, 1)
		dc.known = map[keys.AuthorID]knownRev{}
		dc.dirty = map[keys.SpaceID]bool{}
		dc.searched = map[keys.SpaceID]bool{}
		dc.rekey = map[keys.SpaceID][]keys.AuthorID{}
	}
}

func (dc *devCarrier) kick() {
	dc.mu.Lock()
	dc.init()
	w := dc.wake
	dc.mu.Unlock()
	select {
	case w <- struct{}{}:
	default:
	}
}

// kickAll makes the carrier look at every held space.
func (dc *devCarrier) kickAll() {
	dc.mu.Lock()
	dc.init()
	dc.all = true
	dc.mu.Unlock()
	dc.kick()
}

// learn keeps r (already verified) and returns it with its encoding; it
// reports whether it was new.
func (dc *devCarrier) learn(r identity.Revocation) knownRev {
	kr, _ := dc.learnNew(r)
	return kr
}

func (dc *devCarrier) learnNew(r identity.Revocation) (knownRev, bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.init()
	if kr, ok := dc.known[r.Device]; ok && kr.rev.Identity == r.Identity {
		return kr, false
	}
	kr := knownRev{rev: r, enc: r.Encode()}
	if len(dc.known) >= maxKnownRevocations {
		return kr, false
	}
	dc.known[r.Device] = kr
	return kr, true
}

// knownOf returns the revocations kept of identity who.
func (dc *devCarrier) knownOf(who keys.IdentityID) []knownRev {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	var out []knownRev
	for _, kr := range dc.known {
		if kr.rev.Identity == who {
			out = append(out, kr)
		}
	}
	return out
}

// knownRevocation returns the revocation of dev by identity who, if kept.
func (dc *devCarrier) knownRevocation(dev keys.AuthorID, who keys.IdentityID) (knownRev, bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	kr, ok := dc.known[dev]
	return kr, ok && kr.rev.Identity == who
}

func (dc *devCarrier) isKnown(dev keys.AuthorID) bool {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	_, ok := dc.known[dev]
	return ok
}

// startDevices is called when the node's identity is set (startCarrier):
// the read-key custody opens keys sealed to the identity when its key is
// here, and the carrier starts (once) and looks at every held space.
func (n *Node) startDevices(id *Identity) {
	dc := &n.devs
	dc.mu.Lock()
	dc.init()
	dc.all = true
	if id.HoldsKey() {
		n.rk.SetIdentity(id.key.ReadKeyOpener())
		dc.learnKeys = true
	}
	dc.mu.Unlock()
	n.startDevicesLoop()
	dc.kick()
}

// startDevicesLoop starts the carrier's goroutine, once, owned by the
// node: when the identity is set, or when a devrevoke arrives (an admin
// without an identity rotates keys after a cut).
func (n *Node) startDevicesLoop() {
	dc := &n.devs
	dc.mu.Lock()
	dc.init()
	start := !dc.started
	dc.started = true
	dc.mu.Unlock()
	if !start {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx.Err() != nil { // Close has begun: no goroutine may start
		return
	}
	n.wg.Go(func() {
		n.devicesLoop()
	})
}

// noteDevices is the store's event hook for the carrier (onEvent, on the
// applier goroutine: it must not block). It keeps the revocations of this
// identity among the commits stored, and marks the space to look at when
// they carry something that may change what is to carry.
func (n *Node) noteDevices(ev store.Event) {
	id := n.people.current()
	relevant, learnt := ev.Redecided, false
	var cut []keys.AuthorID
	for _, c := range ev.Stored {
		for i := range c.Ops {
			switch o := &c.Ops[i]; o.Kind {
			case commit.KindDevRevoke:
				relevant = true
				r, ok := revocationOf(o)
				if !ok {
					continue
				}
				cut = append(cut, r.Device)
				if id != nil && r.Identity == id.ID {
					_, isNew := n.devs.learnNew(r)
					learnt = learnt || isNew
				}
			case commit.KindCert, commit.KindGrant, commit.KindRevoke, commit.KindRevokePerson:
				relevant = true
			}
		}
	}
	if !relevant || (id == nil && len(cut) == 0) {
		return
	}
	dc := &n.devs
	dc.mu.Lock()
	dc.init()
	if learnt {
		dc.all = true
	}
	if id != nil && (len(dc.known) > 0 || learnt) {
		dc.dirty[ev.Space] = true
	}
	for _, a := range cut {
		if rk := dc.rekey[ev.Space]; !slices.Contains(rk, a) && len(rk) < maxKnownRevocations {
			dc.rekey[ev.Space] = append(rk, a)
		}
	}
	dc.mu.Unlock()
	if len(cut) > 0 {
		n.startDevicesLoop()
	}
	dc.kick()
}

// revocationOf returns the verified revocation a devrevoke op carries.
func revocationOf(o *commit.Op) (identity.Revocation, bool) {
	dr, err := commit.DecodeDevRevoke(*o)
	if err != nil {
		return identity.Revocation{}, false
	}
	r, err := identity.DecodeRevocation(dr.Revocation)
	return r, err == nil
}

// devicesLoop is the carrier's goroutine: it runs until the node closes.
func (n *Node) devicesLoop() {
	dc := &n.devs
	for n.woken(dc.wake) {
		dc.mu.Lock()
		all, learn := dc.all, dc.learnKeys
		todo := make([]keys.SpaceID, 0, len(dc.dirty))
		for sp := range dc.dirty {
			todo = append(todo, sp)
		}
		clear(dc.dirty)
		rekey := dc.rekey
		dc.rekey = map[keys.SpaceID][]keys.AuthorID{}
		dc.all, dc.learnKeys = false, false
		dc.mu.Unlock()
		for sp, devs := range rekey {
			n.rekeySpace(sp, devs)
		}
		id := n.people.current()
		if id == nil {
			continue
		}
		if learn {
			if err := n.rk.LearnStored(n.ctx, n.st); err != nil && n.ctx.Err() == nil {
				n.log.Warn("read keys sealed to the identity not learnt", "err", err)
			}
		}
		if all {
			todo = n.heldSpaces()
			n.searchRevocations(todo, id.ID)
		}
		revs := dc.knownOf(id.ID)
		if len(revs) == 0 {
			continue
		}
		for _, sp := range todo {
			ctx, cancel := context.WithTimeout(n.ctx, carryTimeout)
			_, err := n.carryRevocations(ctx, sp, revs)
			cancel()
			if err != nil && n.ctx.Err() == nil {
				n.log.Warn("device revocation not carried", "space", sp.String(), "err", err)
			}
		}
	}
}

// searchRevocations learns the revocations of devices of identity who
// cut in spaces sps that the carrier does not know yet: it reads the
// commits of such a space (once per space while the node runs) for its
// devrevoke ops. A node restarted after a revocation arrived finds it so.
func (n *Node) searchRevocations(sps []keys.SpaceID, who keys.IdentityID) {
	for _, sp := range sps {
		if n.ctx.Err() != nil {
			return
		}
		n.devs.mu.Lock()
		done := n.devs.searched[sp]
		n.devs.mu.Unlock()
		if done {
			continue
		}
		acc, err := n.st.Access(n.ctx, sp)
		if err != nil {
			continue
		}
		need := false
		for dev := range acc.Cuts {
			need = need || (certifiedBy(acc, dev, who) && !n.devs.isKnown(dev))
		}
		if need {
			ctx, cancel := context.WithTimeout(n.ctx, carryTimeout)
			err = n.searchSpace(ctx, sp, who)
			cancel()
			if err != nil {
				continue // searched again at the next start
			}
		}
		n.devs.mu.Lock()
		n.devs.searched[sp] = true
		n.devs.mu.Unlock()
	}
}

// searchSpace learns the revocations by identity who in space sp's commits.
func (n *Node) searchSpace(ctx context.Context, sp keys.SpaceID, who keys.IdentityID) error {
	for sc, err := range n.st.AllCommits(ctx, sp) {
		if err != nil {
			return err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			continue
		}
		for i := range c.Ops {
			if c.Ops[i].Kind != commit.KindDevRevoke {
				continue
			}
			if r, ok := revocationOf(&c.Ops[i]); ok && r.Identity == who {
				n.devs.learn(r)
			}
		}
	}
	return nil
}

// certifiedBy reports whether dev has a certificate of identity who that
// counts in acc.
func certifiedBy(acc store.Access, dev keys.AuthorID, who keys.IdentityID) bool {
	for _, g := range acc.Certs(dev) {
		if g.Identity == who {
			return true
		}
	}
	return false
}

// carried is what carryRevocations did in one space.
type carried struct {
	written int // 1 if a commit carried revocations into the space
	pending int // revocations to carry there that this device may not write yet
}

// carryRevocations writes into space sp, in one commit, each revocation
// of revs whose device is certified there and not cut yet, cut after the
// device's latest commit held here; the certificates of this device and
// of the revoked devices go first in the commit (it makes the device one
// of the person's there, whatever the commit depends on). In a private space where this device may rotate
// the read key, the commit rotates it too, to every reader but the
// revoked. Where this device may not write it writes nothing and counts
// the revocations pending.
func (n *Node) carryRevocations(ctx context.Context, sp keys.SpaceID, revs []knownRev) (carried, error) {
	n.devs.run.Lock()
	defer n.devs.run.Unlock()
	id := n.people.current()
	if id == nil {
		return carried{}, nil
	}
	acc, err := n.st.Access(ctx, sp)
	if errors.Is(err, store.ErrUnknownSpace) {
		return carried{}, nil
	}
	if err != nil {
		return carried{}, err
	}
	me := n.dev.Author()
	var todo []knownRev
	for _, kr := range revs {
		if _, cut := acc.Cuts[kr.rev.Device]; cut || kr.rev.Device == me || !certifiedBy(acc, kr.rev.Device, kr.rev.Identity) {
			continue
		}
		todo = append(todo, kr)
	}
	if len(todo) == 0 {
		devs := make([]keys.AuthorID, 0, len(revs))
		for _, kr := range revs {
			devs = append(devs, kr.rev.Device)
		}
		return carried{}, n.rekeyAfterCut(ctx, sp, acc, devs)
	}
	heads, err := n.st.Heads(ctx, sp)
	if err != nil {
		return carried{}, err
	}
	// The certificates go first: this device's, then each revoked
	// device's. They are held here, but the commit's causal past is the
	// space's write path's, which may not have observed them yet; carried
	// again, they make the commit allowed whatever it depends on.
	ops := []commit.Op{commit.CertOp(id.Cert.Encode())}
	revoked := make([]keys.AuthorID, 0, len(todo))
	cuts := make([]uint64, 0, len(todo))
	var rops []commit.Op
	for _, kr := range todo {
		last := uint64(0)
		for _, h := range heads {
			if h.Author == kr.rev.Device {
				last = h.Seq
			}
		}
		for _, g := range acc.Certs(kr.rev.Device) {
			if ct, ok := n.certAt(ctx, sp, g.Granter, g.Seq, kr.rev.Device, kr.rev.Identity); ok && g.Identity == kr.rev.Identity {
				ops = append(ops, commit.CertOp(ct.Encode()))
				break
			}
		}
		rops = append(rops, commit.DevRevokeOp(commit.DevRevoke{Revocation: kr.enc, LastSeq: last}))
		revoked, cuts = append(revoked, kr.rev.Device), append(cuts, last)
	}
	ops = append(ops, rops...)
	s, err := n.openSpace(ctx, sp)
	if err != nil {
		return carried{}, err
	}
	if s.CheckWrite(ctx, ops) != nil {
		return carried{pending: len(todo)}, nil // no role here (yet)
	}
	var epoch uint64
	if s.Private() {
		if rot, ok := n.revokeRotation(ctx, sp, revoked); ok && s.CheckWrite(ctx, append(ops, rot.Op)) == nil {
			ops, epoch = append(ops, rot.Op), rot.Epoch
		}
	}
	c, err := s.Commit(ctx, ops)
	if err != nil {
		return carried{}, fmt.Errorf("node: carry the device revocation: %w", err)
	}
	for i, kr := range todo {
		n.log.Info("device revocation carried", "space", sp.String(), "device", kr.rev.Device.String(),
			"identity", kr.rev.Identity.String(), "last_seq", cuts[i], "epoch", epoch, "commit", c.ID.String())
	}
	return carried{written: 1}, nil
}

// revokeRotation returns the rotation of private space sp's read key to
// every reader but revoked, when this device holds its current key.
func (n *Node) revokeRotation(ctx context.Context, sp keys.SpaceID, revoked []keys.AuthorID) (rotateOp, bool) {
	if _, ok := n.rk.Current(sp); !ok {
		return rotateOp{}, false
	}
	ms, err := space.Members(ctx, n.st, sp)
	if err != nil {
		return rotateOp{}, false
	}
	rot, err := n.rotation(sp, ms, revoked...)
	if err != nil {
		return rotateOp{}, false
	}
	return rot, true
}

// rekeySpace is rekeyAfterCut for the devices devs that a devrevoke
// arriving in space sp cut, logging a failure.
func (n *Node) rekeySpace(sp keys.SpaceID, devs []keys.AuthorID) {
	ctx, cancel := context.WithTimeout(n.ctx, carryTimeout)
	defer cancel()
	acc, err := n.st.Access(ctx, sp)
	if err == nil {
		err = n.rekeyAfterCut(ctx, sp, acc, devs)
	}
	if err != nil && !errors.Is(err, store.ErrUnknownSpace) && n.ctx.Err() == nil {
		n.log.Warn("read key not rotated after a device revocation", "space", sp.String(), "err", err)
	}
}

// rekeyAfterCut rotates private space sp's read key when a device of devs
// is cut there but the latest rotation still seals the key to it — the
// revocation was carried by a device that could not rotate — and this
// device may rotate (an admin holding the current key). Otherwise it does
// nothing.
func (n *Node) rekeyAfterCut(ctx context.Context, sp keys.SpaceID, acc store.Access, devs []keys.AuthorID) error {
	me := n.dev.Author()
	var cut []keys.AuthorID
	for _, d := range devs {
		if _, ok := acc.Cuts[d]; ok && d != me {
			cut = append(cut, d)
		}
	}
	if len(cut) == 0 {
		return nil
	}
	if _, ok := n.rk.Current(sp); !ok {
		return nil // not a reader: cannot rotate
	}
	if private, err := n.isPrivate(ctx, sp); err != nil || !private {
		return err
	}
	var latest commit.Rotate
	for r, err := range n.st.Rotations(ctx, sp) {
		if err != nil {
			return err
		}
		if rot, err := commit.DecodeRotate(commit.Op{Kind: commit.KindRotate, Payload: r.Payload}); err == nil && rot.Epoch >= latest.Epoch {
			latest = rot
		}
	}
	stale := false
	for _, k := range latest.Keys {
		stale = stale || slices.Contains(cut, k.Reader)
	}
	if !stale {
		return nil
	}
	rot, ok := n.revokeRotation(ctx, sp, cut)
	if !ok {
		return nil
	}
	s, err := n.openSpace(ctx, sp)
	if err != nil {
		return err
	}
	ops := []commit.Op{rot.Op}
	if s.CheckWrite(ctx, ops) != nil {
		return nil // not an admin here
	}
	if _, err := s.Commit(ctx, ops); err != nil {
		return fmt.Errorf("node: rotate the read key after a device revocation: %w", err)
	}
	n.log.Info("read key rotated after a device revocation", "space", sp.String(), "epoch", rot.Epoch, "devices", len(cut))
	return nil
}
