package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

var (
	errLinkVoid      = node.ErrLinkVoid
	errNoIdentityKey = node.ErrNoIdentityKey
	errBadPhrase     = node.ErrBadPhrase
)

func (l localNode) recoverIdentity(ctx context.Context, phrase string, o RecoverOptions) (Identity, error) {
	id, err := l.n.Recover(ctx, phrase, o.Name, node.IdentityOptions{Device: o.Device, PhraseOnly: o.PhraseOnly, Peers: o.Peers})
	if err != nil {
		return Identity{}, err
	}
	return identityOf(api.IdentityOf(id)), nil
}

func (l localNode) linkDevice(ctx context.Context, o LinkOptions) (LinkTicket, error) {
	t, err := l.n.LinkDevice(ctx, node.LinkOptions{WithIdentity: o.WithIdentity})
	if err != nil {
		return LinkTicket{}, err
	}
	return LinkTicket(api.LinkTicketOf(t)), nil
}

func (l localNode) waitLinked(ctx context.Context, ticket string) (DeviceCert, error) {
	t, err := keys.ParseTicket(ticket)
	if err != nil {
		return DeviceCert{}, err
	}
	c, err := l.n.WaitLinked(ctx, t)
	if err != nil {
		return DeviceCert{}, err
	}
	return DeviceCert(api.DeviceCertOf(c)), nil
}

func (l localNode) addDevice(ctx context.Context, ticket, device string) (Identity, error) {
	t, err := keys.ParseTicket(ticket)
	if err != nil {
		return Identity{}, err
	}
	id, err := l.n.AddDevice(ctx, t, device)
	if err != nil {
		return Identity{}, err
	}
	return identityOf(api.IdentityOf(id)), nil
}
