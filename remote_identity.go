package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

func (r *remoteNode) createIdentity(ctx context.Context, name string, o IdentityOptions) (Identity, string, error) {
	out, err := r.c.CreateIdentity(ctx, api.CreateIdentityRequest{Name: name, Device: o.Device, PhraseOnly: o.PhraseOnly})
	if err != nil {
		return Identity{}, "", err
	}
	return identityOf(out.Identity), out.Phrase, nil
}

func (r *remoteNode) identity(ctx context.Context) (Identity, error) {
	id, err := r.c.Identity(ctx)
	if err != nil {
		return Identity{}, err
	}
	return identityOf(id), nil
}

func (s *remoteSpace) grant(ctx context.Context, subject string, role Role) error {
	return s.c.Grant(ctx, s.in.ID, subject, string(role))
}
