package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// A person's devices (issue 12): listing them from the certificates of
// the identity across held spaces, revoking one (a revocation signed once
// by the identity, carried into every space: devcarrier.go), and revoking
// a person in a space. docs/design.md, "Revoking devices and people (#12)".

// Errors of devices.
var (
	// ErrUnknownDevice: no device of the person has that name or author
	// ID, or the name is ambiguous.
	ErrUnknownDevice = errors.New("no such device of this person")
	// ErrRevokeThisDevice: a device asked to revoke itself.
	ErrRevokeThisDevice = errors.New("a device cannot revoke itself")
)

// Device is one of the person's devices, as the certificates held here
// show it.
type Device struct {
	Author keys.AuthorID
	Name   string
	Since  time.Time // its certificate's time
	// LastSeen is its latest commit in any held space or the last sync
	// with it, whichever is newer (zero: never).
	LastSeen time.Time
	This     bool // this device
	Spaces   int  // held spaces its certificate is in
	// Revoked is set when the identity revoked it (a revocation held
	// here), or when it is cut in a held space.
	Revoked *DeviceRevoked
}

// DeviceRevoked says how a device is revoked.
type DeviceRevoked struct {
	// At is the time of the identity's revocation (zero: cut by an admin,
	// no revocation of the identity held here).
	At time.Time
	// Spaces counts the held spaces where the device is cut; Pending
	// those where its certificate is and it is not cut yet (the
	// revocation is carried there as soon as this device may write).
	Spaces, Pending int
}

// RevokedDevice is what RevokeDevice did.
type RevokedDevice struct {
	Device  keys.AuthorID
	Name    string
	Written int // spaces the revocation was written into now
	// Pending counts the held spaces where the device is certified and
	// the revocation could not be written yet (no role there yet): the
	// carrier writes it when it can.
	Pending int
}

// maxDeviceSpaces bounds the held spaces Devices and RevokeDevice look
// at in one call (a node holds a few hundred spaces at most).
const maxDeviceSpaces = 4096

// Devices returns the person's devices known here, from the certificates
// of this identity in every held space, this device first, then by time
// of certification.
func (n *Node) Devices(ctx context.Context) ([]Device, error) {
	id, err := n.Identity(ctx)
	if err != nil {
		return nil, err
	}
	byDev := map[keys.AuthorID]*Device{}
	me := n.dev.Author()
	byDev[me] = &Device{Author: me, Name: id.Cert.Name, Since: microTime(id.Cert.Time), This: true}
	for _, sp := range n.heldSpaces() {
		if err := n.devicesIn(ctx, sp, id.ID, byDev); err != nil {
			return nil, err
		}
	}
	for _, kr := range n.devs.knownOf(id.ID) {
		d := byDev[kr.rev.Device]
		if d == nil {
			continue // certified in no held space: nothing to show of it
		}
		if d.Revoked == nil {
			d.Revoked = &DeviceRevoked{}
		}
		d.Revoked.At = microTime(kr.rev.Time)
	}
	for a, d := range byDev {
		if t := n.bookSeen(a); t.After(d.LastSeen) {
			d.LastSeen = t
		}
	}
	out := make([]Device, 0, len(byDev))
	for _, d := range byDev {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b Device) int {
		switch {
		case a.This != b.This:
			if a.This {
				return -1
			}
			return 1
		case !a.Since.Equal(b.Since):
			return a.Since.Compare(b.Since)
		}
		return bytes.Compare(a.Author[:], b.Author[:])
	})
	return out, nil
}

// devicesIn adds to byDev the devices of identity who certified in space
// sp, with their latest commit there and whether they are cut.
func (n *Node) devicesIn(ctx context.Context, sp keys.SpaceID, who keys.IdentityID, byDev map[keys.AuthorID]*Device) error {
	gs, err := n.st.Grants(ctx, sp)
	if errors.Is(err, store.ErrUnknownSpace) {
		return nil // forgotten meanwhile
	}
	if err != nil {
		return err
	}
	acc, err := n.st.Access(ctx, sp)
	if errors.Is(err, store.ErrUnknownSpace) {
		return nil
	}
	if err != nil {
		return err
	}
	heads, err := n.st.Heads(ctx, sp)
	if err != nil {
		return err
	}
	seen := map[keys.AuthorID]bool{}
	for _, g := range gs {
		if !g.IsCert() || g.Identity != who || seen[g.Subject] {
			continue
		}
		seen[g.Subject] = true
		d := byDev[g.Subject]
		if d == nil {
			d = &Device{Author: g.Subject}
			byDev[g.Subject] = d
		}
		if d.Name == "" {
			if ct, ok := n.certAt(ctx, sp, g.Granter, g.Seq, g.Subject, who); ok {
				d.Name, d.Since = ct.Name, microTime(ct.Time)
			}
		}
		d.Spaces++
		if _, cut := acc.Cuts[g.Subject]; cut {
			if d.Revoked == nil {
				d.Revoked = &DeviceRevoked{}
			}
			d.Revoked.Spaces++
		} else if d.Revoked != nil || n.devs.isKnown(g.Subject) {
			if d.Revoked == nil {
				d.Revoked = &DeviceRevoked{}
			}
			d.Revoked.Pending++
		}
		for _, h := range heads {
			if t := h.Time.Time(); h.Author == g.Subject && t.After(d.LastSeen) {
				d.LastSeen = t.UTC()
			}
		}
	}
	return nil
}

// certAt returns the certificate of device dev by identity who carried by
// the commit (author, seq) of space sp.
func (n *Node) certAt(ctx context.Context, sp keys.SpaceID, author keys.AuthorID, seq uint64, dev keys.AuthorID, who keys.IdentityID) (identity.Cert, bool) {
	for sc, err := range n.st.Commits(ctx, sp, author, seq) {
		if err != nil || sc.Seq != seq {
			return identity.Cert{}, false
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return identity.Cert{}, false
		}
		for _, ct := range space.Certs(c) {
			if ct.Device == dev && ct.Identity == who {
				return ct, true
			}
		}
		return identity.Cert{}, false
	}
	return identity.Cert{}, false
}

// RevokeDevice revokes one of the person's devices, named by its name or
// its author ID (aut_…): the identity signs the revocation once, and it
// is written into every held space where the device is certified, cut
// after the device's latest commit held here. The person's other devices
// carry it into the spaces this device does not hold (devcarrier.go). In
// a private space where this device is an admin, the read key is rotated
// in the same commit: the revoked device reads nothing written after.
// This device must hold the identity key.
func (n *Node) RevokeDevice(ctx context.Context, ref string) (RevokedDevice, error) {
	id, err := n.Identity(ctx)
	if err != nil {
		return RevokedDevice{}, err
	}
	if !id.HoldsKey() {
		return RevokedDevice{}, fmt.Errorf("%w of %s (%s): revoke the device from one that does, or recover the identity here with 'loam id recover'", ErrNoIdentityKey, id.Name, id.ID.Short())
	}
	devs, err := n.Devices(ctx)
	if err != nil {
		return RevokedDevice{}, err
	}
	d, err := pickDevice(devs, ref)
	if err != nil {
		return RevokedDevice{}, err
	}
	if d.This {
		return RevokedDevice{}, fmt.Errorf("%w: %q (%s) is this device; revoke it from another of %s's devices that holds the identity key, or recover the identity on a new device with 'loam id recover' and revoke this one from there", ErrRevokeThisDevice, d.Name, d.Author, id.Name)
	}
	kr, ok := n.devs.knownRevocation(d.Author, id.ID)
	if !ok { // signed once: a revocation known here is carried again
		rev, err := identity.NewRevocation(id.key, d.Author, n.clock.Now().Wall)
		if err != nil {
			return RevokedDevice{}, err
		}
		kr = n.devs.learn(rev)
	}
	out := RevokedDevice{Device: d.Author, Name: d.Name}
	for _, sp := range n.heldSpaces() {
		res, err := n.carryRevocations(ctx, sp, []knownRev{kr})
		if err != nil {
			return out, fmt.Errorf("node: revoke device %s in %s: %w (the revocation is written in %d spaces so far; run the command again)", d.Name, sp, err, out.Written)
		}
		out.Written += res.written
		out.Pending += res.pending
	}
	n.devs.kickAll()
	return out, nil
}

// pickDevice resolves ref, a device's name or author ID, among devs.
func pickDevice(devs []Device, ref string) (Device, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, keys.AuthorPrefix) {
		a, err := keys.ParseAuthorID(ref)
		if err != nil {
			return Device{}, err
		}
		for _, d := range devs {
			if d.Author == a {
				return d, nil
			}
		}
		return Device{}, fmt.Errorf("%w: %s is not a device of this person known here; known: %s (see 'loam device ls')", ErrUnknownDevice, a, deviceList(devs, false))
	}
	var hits []Device
	for _, d := range devs {
		if d.Name == ref {
			hits = append(hits, d)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return Device{}, fmt.Errorf("%w: no device is named %q; known: %s (see 'loam device ls')", ErrUnknownDevice, ref, deviceList(devs, false))
	}
	return Device{}, fmt.Errorf("%w: %d devices are named %q: %s; name one by its author ID", ErrUnknownDevice, len(hits), ref, deviceList(hits, true))
}

// deviceList names devs for an error: by name, or by author ID.
func deviceList(devs []Device, ids bool) string {
	var parts []string
	for _, d := range devs {
		switch {
		case ids:
			parts = append(parts, d.Author.String())
		case d.Name == "":
			parts = append(parts, d.Author.String())
		default:
			parts = append(parts, fmt.Sprintf("%q", d.Name))
		}
	}
	return strings.Join(parts, ", ")
}

// heldSpaces returns the held spaces, at most maxDeviceSpaces.
func (n *Node) heldSpaces() []keys.SpaceID {
	n.mu.Lock()
	defer n.mu.Unlock()
	held := slices.Clone(n.held)
	if len(held) > maxDeviceSpaces {
		held = held[:maxDeviceSpaces]
	}
	return held
}

// bookSeen returns when the peer book last recorded a sync with peer p
// (zero: never, or offline).
func (n *Node) bookSeen(p keys.AuthorID) time.Time {
	if n.rc == nil {
		return time.Time{}
	}
	pb := n.rc.book
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return pb.d.peers[p].seen
}

func microTime(us uint64) time.Time { return time.UnixMicro(int64(us)).UTC() }

// revokePerson revokes the person of identity ID target in space sp
// (named name): one revokeperson op that cuts each device of the person
// certified here after its latest commit held here, and every other
// device of the person — certified concurrently, or later — at 0 (package
// acl). In a private space the read key is rotated in the same commit, to
// every reader but the person's devices. This device must be an admin of
// the whole space.
func (n *Node) revokePerson(ctx context.Context, sp keys.SpaceID, name, target string) (Revocation, error) {
	who, err := keys.ParseIdentityID(target)
	if err != nil {
		return Revocation{}, err
	}
	gs, err := n.st.Grants(ctx, sp)
	if err != nil {
		return Revocation{}, err
	}
	var devs []keys.AuthorID
	known := false
	for _, g := range gs {
		if g.Identity != who {
			continue
		}
		known = true
		if g.IsCert() && !slices.Contains(devs, g.Subject) {
			devs = append(devs, g.Subject)
		}
	}
	if !known {
		return Revocation{}, fmt.Errorf("%w: person %s has no device and no grant in %s (see loam members %s)", ErrNotMember, who, name, name)
	}
	if len(devs) > commit.MaxPersonCuts {
		devs = devs[:commit.MaxPersonCuts] // the others are cut at 0
	}
	heads, err := n.st.Heads(ctx, sp)
	if err != nil {
		return Revocation{}, err
	}
	r := Revocation{Person: who}
	for _, d := range devs {
		cut := commit.Revoke{Author: d}
		for _, h := range heads {
			if h.Author == d {
				cut.LastSeq = h.Seq
			}
		}
		r.Devices = append(r.Devices, cut)
	}
	s, err := n.openSpace(ctx, sp)
	if err != nil {
		return Revocation{}, err
	}
	ops := []commit.Op{commit.RevokePersonOp(commit.RevokePerson{Identity: who, Cuts: r.Devices})}
	if err := s.CheckWrite(ctx, ops); err != nil {
		return Revocation{}, fmt.Errorf("%w: revoking a person in %s needs the admin role for the whole space; ask an admin (%v)", ErrNotAdmin, name, err)
	}
	var ms []space.Member // the members a private space's new read key goes to
	if s.Private() {
		if ms, err = space.Members(ctx, n.st, sp); err != nil {
			return Revocation{}, err
		}
	}
	if r.Epoch, err = n.commitRevoke(ctx, s, ms, ops, devs...); err != nil {
		return Revocation{}, err
	}
	n.log.Info("person revoked", "space", sp.String(), "identity", who.String(), "devices", len(r.Devices))
	return r, nil
}
