package loam

import (
	"context"
	"time"
)

// Linking devices and recovering an identity (issue 12): a person's new
// device joins their own space with a link ticket and is certified there;
// a device given the recovery phrase becomes one of the person's devices
// again. Either way the person's spaces follow, and the device writes in
// them as the person.

// Errors of linking and recovery.
var (
	// ErrLinkVoid: the link ticket expired, was used, is not a link
	// ticket, or the linking device did not answer: link again.
	ErrLinkVoid = errLinkVoid
	// ErrNoIdentityKey: this device does not hold the identity key (it was
	// linked without it, or the identity was made with PhraseOnly).
	ErrNoIdentityKey = errNoIdentityKey
	// ErrBadPhrase: the recovery phrase is not 24 words of the list with a
	// matching checksum; the error says which word, or what to check.
	ErrBadPhrase = errBadPhrase
)

// RecoverOptions describe a recovery.
type RecoverOptions struct {
	// Name is the person's name ("": learned from the person's own space
	// once it comes back from a peer).
	Name string
	// Device names this device in its certificate ("": the host name).
	Device string
	// PhraseOnly keeps the identity key out of the home.
	PhraseOnly bool
	// Peers are addresses (multiaddrs with /p2p/) of peers that hold the
	// person's own space — a seeder, another device — besides those the
	// DHT and mDNS find.
	Peers []string
}

// LinkOptions describe a link ticket.
type LinkOptions struct {
	// WithIdentity gives the new device the identity key too, so that it
	// can link and revoke devices itself.
	WithIdentity bool
}

// LinkTicket is a link ticket for a new device of the person: it works
// once, until Expires, while the device that made it runs.
type LinkTicket struct {
	Ticket  string    `json:"ticket"`
	Expires time.Time `json:"expires"`
}

// linkNode is what a Node implementation does for linking and recovery.
type linkNode interface {
	recoverIdentity(ctx context.Context, phrase string, o RecoverOptions) (Identity, error)
	linkDevice(ctx context.Context, o LinkOptions) (LinkTicket, error)
	waitLinked(ctx context.Context, ticket string) (DeviceCert, error)
	addDevice(ctx context.Context, ticket, device string) (Identity, error)
}

// RecoverIdentity makes this device one of the devices of the identity
// whose recovery phrase is given (24 words, as the person typed them). The
// device is certified, starts holding the person's own space, and from
// it — once a peer that holds it answers (o.Peers, the DHT or mDNS) —
// every space of the person, private ones included; it writes in them as
// the person, and can revoke lost devices. A home holds one identity
// (ErrIdentityExists).
func (n *Node) RecoverIdentity(ctx context.Context, phrase string, o RecoverOptions) (Identity, error) {
	return n.impl.recoverIdentity(ctx, phrase, o)
}

// LinkDevice makes a link ticket for a new device of this device's
// person: give it to AddDevice (loam device add) on the new device within
// ten minutes, while this device runs. This device must hold the identity
// key (ErrNoIdentityKey).
func (n *Node) LinkDevice(ctx context.Context, o LinkOptions) (LinkTicket, error) {
	return n.impl.linkDevice(ctx, o)
}

// WaitLinked waits until the device that used the link ticket is
// certified, and returns its certificate (ErrLinkVoid once the ticket
// expired unused).
func (n *Node) WaitLinked(ctx context.Context, ticket string) (DeviceCert, error) {
	return n.impl.waitLinked(ctx, ticket)
}

// AddDevice makes this device one of the devices of the person whose
// link ticket is given, named device ("": the host name): it joins the
// person's own space, is certified by the linking device, and from then
// on holds every space of the person and writes in them as the person.
// It waits for the linking device's answer (ten minutes at most).
func (n *Node) AddDevice(ctx context.Context, ticket, device string) (Identity, error) {
	return n.impl.addDevice(ctx, ticket, device)
}
