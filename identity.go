package loam

import (
	"context"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
)

// People (issue 12): a person's identity (idt_…) certifies their
// devices; this device's certificate travels into every space it holds
// where it may write, and a grant may name a person.

// Errors of identities.
var (
	// ErrIdentityExists: the home already holds an identity (a home is
	// one device of one person).
	ErrIdentityExists = node.ErrIdentityExists
	// ErrNoIdentity: the home holds no identity; create one.
	ErrNoIdentity = node.ErrNoIdentity
	// ErrBadPersonName: a person's or device's name is empty, too long
	// (64 bytes) or has control characters.
	ErrBadPersonName = node.ErrBadPersonName
)

// Identity is a person's identity as this device holds it.
type Identity struct {
	ID   string `json:"id"`   // idt_…
	Name string `json:"name"` // the person's name
	// HoldsKey: the identity key is on this device, which can certify and
	// revoke the person's devices; otherwise only the phrase holds it.
	HoldsKey bool       `json:"holds_key"`
	Device   DeviceCert `json:"device"` // this device's certificate
}

// DeviceCert is a device's certificate: the device, its name, and when its
// person certified it.
type DeviceCert struct {
	Author string    `json:"author"` // aut_…
	Name   string    `json:"name"`
	Since  time.Time `json:"since"`
}

// IdentityOptions describe a new identity.
type IdentityOptions struct {
	// Device names this device in its certificate ("": the host name).
	Device string
	// PhraseOnly keeps the identity key only in the recovery phrase, not
	// on this device.
	PhraseOnly bool
}

// identityNode is what a Node implementation does for identities.
type identityNode interface {
	createIdentity(ctx context.Context, name string, o IdentityOptions) (Identity, string, error)
	identity(ctx context.Context) (Identity, error)
}

// CreateIdentity makes a new identity for the person named name: a
// recovery phrase of 24 words, the identity key derived from it, and this
// device's certificate, kept in the home (the key too, unless
// o.PhraseOnly). It returns the phrase, which is kept nowhere: show it
// once to the person, who writes it down and never shares it; it alone
// recovers the identity. The certificate is written into every space held
// here where this device may write, and into every space it holds later.
// A home holds one identity (ErrIdentityExists).
func (n *Node) CreateIdentity(ctx context.Context, name string, o IdentityOptions) (Identity, string, error) {
	return n.impl.createIdentity(ctx, name, o)
}

// Identity returns the identity this device holds (ErrNoIdentity if none).
func (n *Node) Identity(ctx context.Context) (Identity, error) { return n.impl.identity(ctx) }

// Grant grants role in the space to subject: a person by identity ID
// (idt_…), whose certified devices all hold it — those linked later too,
// without an invite — or a device by author ID (aut_…). This device must
// be an admin of the space.
func (s *Space) Grant(ctx context.Context, subject string, role Role) error {
	return s.impl.grant(ctx, subject, role)
}

// One road for an identity, embedded or through a daemon: node's form
// becomes the API's (api.IdentityOf), which becomes this package's here.
func identityOf(id api.Identity) Identity {
	return Identity{ID: id.ID, Name: id.Name, HoldsKey: id.HoldsKey, Device: DeviceCert(id.Device)}
}
