package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

func (r *remoteNode) recoverIdentity(ctx context.Context, phrase string, o RecoverOptions) (Identity, error) {
	id, err := r.c.RecoverIdentity(ctx, api.RecoverRequest{Phrase: phrase, Name: o.Name, Device: o.Device, PhraseOnly: o.PhraseOnly, Peers: o.Peers})
	if err != nil {
		return Identity{}, err
	}
	return identityOf(id), nil
}

func (r *remoteNode) linkDevice(ctx context.Context, o LinkOptions) (LinkTicket, error) {
	t, err := r.c.LinkDevice(ctx, api.LinkRequest{WithIdentity: o.WithIdentity})
	return LinkTicket(t), err
}

func (r *remoteNode) waitLinked(ctx context.Context, ticket string) (DeviceCert, error) {
	c, err := r.c.WaitLinked(ctx, ticket)
	return DeviceCert(c), err
}

func (r *remoteNode) addDevice(ctx context.Context, ticket, device string) (Identity, error) {
	id, err := r.c.AddDevice(ctx, api.AddDeviceRequest{Ticket: ticket, Device: device})
	if err != nil {
		return Identity{}, err
	}
	return identityOf(id), nil
}
