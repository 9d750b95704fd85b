package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/store"
)

// Linking a device (issue 12). A device that holds the identity key makes
// a link ticket: an invite to the person's own space, for one join, valid
// LinkValidity. The new device joins with it, checks that the space is a
// person space (its genesis names the identity), and writes a link
// request, link/<aut_…>, with the name it wants. The linking node, which
// remembers its live link invites, answers the one request made through
// each: a certificate of the device signed by the identity, and the
// identity key sealed to the device when asked. The new device accepts the
// certificate (signs it too), keeps the identity, and from there the
// carrier and the person worker bring it every space of the person.
// docs/design.md, "Linking a device (#12)".

const (
	// LinkValidity is how long a link ticket works.
	LinkValidity = 10 * time.Minute
	linkPrefix   = "link/"
	answerSuffix = "/answer"
	// maxLinks bounds the link tickets live at once on a node.
	maxLinks = 16
	// linkKeyEpoch is the "epoch" under which the identity key is sealed
	// to a device being linked: no read key epoch reaches it, so a sealed
	// identity key never opens as a read key, nor the reverse.
	linkKeyEpoch = math.MaxUint64
)

// linkValidity is LinkValidity; tests shorten it (never in parallel).
var linkValidity = LinkValidity

// Errors of linking.
var (
	// ErrLinkVoid: the link ticket expired, was used, or is not a link
	// ticket.
	ErrLinkVoid = errors.New("the link ticket does not work")
	// ErrNoIdentityKey: this device does not hold the identity key.
	ErrNoIdentityKey = errors.New("this device does not hold the identity key")
)

// pendingLink is a link ticket this node made and has not answered.
type pendingLink struct {
	expires time.Time
	withKey bool
	device  chan identity.Cert // buffered 1: the device certified through it
}

// linkRequest is the value of link/<aut_…>.
type linkRequest struct {
	Name string `json:"name"` // the device's name
}

// linkAnswer is the value of link/<aut_…>/answer.
type linkAnswer struct {
	Cert   string `json:"cert"`          // base64url: the certificate, signed by the identity
	Person string `json:"person"`        // the person's name
	Key    string `json:"key,omitempty"` // base64url: the identity key's seed sealed to the device
}

// LinkOptions describe a link ticket.
type LinkOptions struct {
	// WithIdentity gives the new device the identity key too: it can then
	// link and revoke devices itself.
	WithIdentity bool
}

// LinkDevice makes a link ticket for a new device of this device's
// person: one join of the person's own space, valid LinkValidity. This
// device must hold the identity key; it answers the new device's request
// while it runs (WaitLinked reports it).
func (n *Node) LinkDevice(ctx context.Context, o LinkOptions) (keys.Ticket, error) {
	id, err := n.Identity(ctx)
	if err != nil {
		return keys.Ticket{}, err
	}
	if !id.HoldsKey() {
		return keys.Ticket{}, fmt.Errorf("%w of %s (%s): link the new device from one that does, or recover the identity here with 'loam id recover'", ErrNoIdentityKey, id.Name, id.ID.Short())
	}
	if id.Person.IsZero() {
		return keys.Ticket{}, fmt.Errorf("node: link: this device does not hold %s's own space yet", id.Name)
	}
	n.people.mu.Lock()
	live := 0
	for inv, pl := range n.people.person.links {
		if time.Now().After(pl.expires) {
			delete(n.people.person.links, inv)
			continue
		}
		live++
	}
	n.people.mu.Unlock()
	if live >= maxLinks {
		return keys.Ticket{}, fmt.Errorf("node: link: %d link tickets are live; use one, or wait until they expire (%s)", live, linkValidity)
	}
	t, err := n.NewInvite(ctx, id.Person.String(), InviteOptions{Role: commit.RoleWrite, Expires: linkValidity, Uses: 1})
	if err != nil {
		return keys.Ticket{}, fmt.Errorf("node: link: %w", err)
	}
	n.people.mu.Lock()
	if n.people.person.links == nil {
		n.people.person.links = map[keys.AuthorID]*pendingLink{}
	}
	n.people.person.links[t.Invite.Author()] = &pendingLink{expires: time.Now().Add(linkValidity), withKey: o.WithIdentity, device: make(chan identity.Cert, 1)}
	n.people.mu.Unlock()
	n.kickPerson()
	return t, nil
}

// WaitLinked waits until the device that used link ticket t is certified,
// and returns its certificate; ErrLinkVoid once the ticket expired unused.
func (n *Node) WaitLinked(ctx context.Context, t keys.Ticket) (identity.Cert, error) {
	n.people.mu.Lock()
	pl := n.people.person.links[t.Invite.Author()]
	n.people.mu.Unlock()
	if pl == nil {
		return identity.Cert{}, fmt.Errorf("%w: this node made no live link ticket of that key (tickets do not outlive a restart)", ErrLinkVoid)
	}
	timer := time.NewTimer(time.Until(pl.expires))
	defer timer.Stop()
	select {
	case c := <-pl.device:
		pl.device <- c // for another waiter
		return c, nil
	case <-timer.C:
		return identity.Cert{}, fmt.Errorf("%w: it expired unused after %s; make a new one with 'loam device link'", ErrLinkVoid, linkValidity)
	case <-ctx.Done():
		return identity.Cert{}, ctx.Err()
	case <-n.ctx.Done():
		return identity.Cert{}, n.Closed()
	}
}

// answerLinks answers the link requests made through this node's live
// link tickets: one device per ticket, the one that joined through it.
func (n *Node) answerLinks(ctx context.Context, pid keys.SpaceID) error {
	n.people.mu.Lock()
	id := n.people.id
	links := make(map[keys.AuthorID]*pendingLink, len(n.people.person.links))
	for inv, pl := range n.people.person.links {
		if len(pl.device) == 0 && time.Now().Before(pl.expires) {
			links[inv] = pl
		}
	}
	n.people.mu.Unlock()
	if len(links) == 0 || id == nil || !id.HoldsKey() {
		return nil
	}
	acc, err := n.st.Access(ctx, pid)
	if err != nil {
		return err
	}
	ps, err := n.openSpace(ctx, pid)
	if err != nil {
		return err
	}
	for kv, err := range ps.Range(ctx, store.Query{Prefix: []byte(linkPrefix)}) {
		if err != nil {
			return err
		}
		rest := string(kv.Key[len(linkPrefix):])
		if strings.Contains(rest, "/") {
			continue // an answer
		}
		dev, err := keys.ParseAuthorID(rest)
		if err != nil || kv.Entry.Author != dev {
			continue // only the device asks for itself
		}
		var pl *pendingLink
		for _, g := range acc.Grants(dev) {
			if p := links[g.Invite]; p != nil && !g.Invite.IsZero() {
				pl = p
			}
		}
		if pl == nil {
			continue // not through a live ticket of this node
		}
		var req linkRequest
		if err := decodePersonValue(kv.Entry.Value, &req); err != nil {
			n.log.Warn("link: a malformed request", "device", dev.String(), "err", err)
			continue
		}
		cert, err := identity.Certify(id.key, dev, req.Name, n.clock.Now().Wall)
		if err != nil {
			n.log.Warn("link: a request with a bad device name", "device", dev.String(), "err", err)
			continue
		}
		ans := linkAnswer{Cert: base64.RawURLEncoding.EncodeToString(cert.Encode()), Person: id.Name}
		if pl.withKey {
			sealed, err := seal.SealKey(dev, seal.ReadKey(id.key.Seed()), pid, linkKeyEpoch)
			if err != nil {
				return err
			}
			ans.Key = base64.RawURLEncoding.EncodeToString(sealed)
		}
		if _, err := ps.Commit(ctx, []commit.Op{commit.Put([]byte(linkPrefix+dev.String()+answerSuffix), mustJSON(ans))}); err != nil {
			return fmt.Errorf("link: answer %s: %w", dev.Short(), err)
		}
		n.log.Info("device linked", "device", dev.String(), "name", req.Name)
		select {
		case pl.device <- cert:
		default:
		}
	}
	return nil
}

// AddDevice makes this device one of the devices of the person whose link
// ticket t is (from 'loam device link' on a device holding the identity
// key): it joins the person's own space through t, asks to be certified
// under the name dev ("": the host name), and waits (while the linking
// device runs, LinkValidity at most) for the certificate. From then on the
// person's spaces come here, and this device writes in them as the person.
func (n *Node) AddDevice(ctx context.Context, t keys.Ticket, dev string) (Identity, error) {
	if dev == "" {
		dev = defaultDeviceName()
	}
	if err := CheckPersonName(dev); err != nil || len(dev) > identity.MaxDeviceName {
		return Identity{}, fmt.Errorf("%w: device name %q: 1 to %d bytes of printable text", ErrBadPersonName, dev, identity.MaxDeviceName)
	}
	if t.Invite.IsZero() {
		return Identity{}, fmt.Errorf("%w: it carries no invite; copy the whole ticket 'loam device link' printed", ErrLinkVoid)
	}
	n.people.create.Lock()
	defer n.people.create.Unlock()
	if cur, err := n.Identity(ctx); err == nil {
		return Identity{}, fmt.Errorf("%w: %s (%s); a home is one device of one person", ErrIdentityExists, cur.ID, cur.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, LinkValidity)
	defer cancel()
	_, held := n.st.Space(ctx, t.Space)
	if _, err := n.Join(ctx, t); err != nil {
		if errors.Is(err, ErrInviteVoid) || errors.Is(err, acl.ErrUsedUp) {
			return Identity{}, fmt.Errorf("%w: it expired or was used already; run 'loam device link' again on your other device", ErrLinkVoid)
		}
		return Identity{}, fmt.Errorf("node: add device: %w", err)
	}
	who, err := n.personGenesisOf(ctx, t.Space)
	if err != nil {
		n.dropLinked(t, held)
		return Identity{}, err
	}
	ps, err := n.openSpace(ctx, t.Space)
	if err != nil {
		return Identity{}, err
	}
	me := n.dev.Author()
	if _, err := ps.Commit(ctx, []commit.Op{commit.Put([]byte(linkPrefix+me.String()), mustJSON(linkRequest{Name: dev}))}); err != nil {
		return Identity{}, fmt.Errorf("node: add device: ask to be linked: %w", err)
	}
	var ans linkAnswer
	akey := []byte(linkPrefix + me.String() + answerSuffix)
	err = n.waitStored(ctx, t.Space, func() bool {
		e, err := ps.Get(ctx, akey)
		return err == nil && !e.Tombstone() && decodePersonValue(e.Value, &ans) == nil
	})
	if err != nil {
		n.dropLinked(t, held)
		return Identity{}, fmt.Errorf("%w: the linking device did not answer (is 'loam device link' or its daemon still running there?): %w", ErrLinkVoid, err)
	}
	id, err := n.acceptLink(ans, who, t.Space, dev)
	if err != nil {
		n.dropLinked(t, held)
		return Identity{}, err
	}
	if err := n.saveIdentity(id); err != nil {
		return Identity{}, err
	}
	n.carryAll(ctx)
	n.kickPerson()
	return id, nil
}

// acceptLink checks the answer to this device's link request in the
// person space pid of identity who, and returns the identity it makes.
func (n *Node) acceptLink(ans linkAnswer, who keys.IdentityID, pid keys.SpaceID, dev string) (Identity, error) {
	bad := func(format string, a ...any) (Identity, error) {
		return Identity{}, fmt.Errorf("%w: the answer is not valid (%s): link again", ErrLinkVoid, fmt.Sprintf(format, a...))
	}
	raw, err := base64.RawURLEncoding.DecodeString(ans.Cert)
	if err != nil {
		return bad("certificate: %v", err)
	}
	cert, err := identity.DecodeCertified(raw)
	if err != nil {
		return bad("%v", err)
	}
	if cert.Identity != who || cert.Device != n.dev.Author() || cert.Name != dev {
		return bad("a certificate of %s as %q by %s, not of this device as %q by %s", cert.Device.Short(), cert.Name, cert.Identity.Short(), dev, who.Short())
	}
	cert.SignDevice(n.dev)
	if err := cert.Verify(); err != nil {
		return bad("%v", err)
	}
	name := ans.Person
	if CheckPersonName(name) != nil {
		name = placeholderName(who)
	}
	id := Identity{ID: who, Name: name, Cert: cert, Person: pid}
	if ans.Key != "" {
		sealed, err := base64.RawURLEncoding.DecodeString(ans.Key)
		if err != nil {
			return bad("identity key: %v", err)
		}
		seed, err := seal.OpenKey(n.dev, sealed, pid, linkKeyEpoch)
		if err != nil {
			return bad("identity key: %v", err)
		}
		k := identity.KeyFromSeed(seed)
		if k.ID() != who {
			return bad("the identity key is not %s's", who.Short())
		}
		id.key = k
	}
	return id, nil
}

// personGenesisOf returns the identity whose person space sp is, from its
// genesis (ErrLinkVoid if it is not one).
func (n *Node) personGenesisOf(ctx context.Context, sp keys.SpaceID) (keys.IdentityID, error) {
	for sc, err := range n.st.Commits(ctx, sp, keys.AuthorID(sp), 1) {
		if err != nil {
			return keys.IdentityID{}, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return keys.IdentityID{}, err
		}
		if who, ok := personOf(c); ok {
			return who, nil
		}
		break
	}
	return keys.IdentityID{}, fmt.Errorf("%w: it is an invite to a space, not a link ticket (use 'loam join' for it)", ErrLinkVoid)
}

// dropLinked forgets the person space a failed AddDevice joined, unless
// it was held before (heldErr is what Space said then).
func (n *Node) dropLinked(t keys.Ticket, heldErr error) {
	if heldErr == nil {
		return
	}
	if err := n.forgetJoined(pendingJoin{Ticket: t, Added: true, Keys: true}); err != nil {
		n.log.Warn("add device: could not remove the space the failed link joined", "space", t.Space.String(), "err", err)
	}
}

// ErrBadPhrase: a recovery phrase that is not 24 words of the list with
// a matching checksum (the error says which word, or what to check).
var ErrBadPhrase = errors.New("the recovery phrase is not valid")

// Recover is RecoverIdentity from a phrase as a person typed it.
func (n *Node) Recover(ctx context.Context, phrase, name string, o IdentityOptions) (Identity, error) {
	p, err := identity.ParsePhrase(phrase)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrBadPhrase, err)
	}
	return n.RecoverIdentity(ctx, p, name, o)
}
