package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/node"
)

func (l localNode) createIdentity(ctx context.Context, name string, o IdentityOptions) (Identity, string, error) {
	id, phrase, err := l.n.CreateIdentity(ctx, name, node.IdentityOptions{Device: o.Device, PhraseOnly: o.PhraseOnly})
	if err != nil {
		return Identity{}, "", err
	}
	return identityOf(api.IdentityOf(id)), phrase.String(), nil
}

func (l localNode) identity(ctx context.Context) (Identity, error) {
	id, err := l.n.Identity(ctx)
	if err != nil {
		return Identity{}, err
	}
	return identityOf(api.IdentityOf(id)), nil
}

func (s *localSpace) grant(ctx context.Context, subject string, role Role) error {
	r, err := commit.ParseRole(string(role))
	if err != nil {
		return err
	}
	return s.n.Grant(ctx, s.in.ID, subject, r)
}
