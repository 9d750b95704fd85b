package loam

import (
	"context"

	"github.com/loamdb/loam/internal/space"
)

func (l localNode) setProfile(ctx context.Context, p Profile) (int, error) {
	return l.n.SetProfile(ctx, space.Profile(p))
}

func (l localNode) profile(ctx context.Context) (Profile, error) {
	p, err := l.n.Profile(ctx)
	return Profile(p), err
}
