package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

func (r *remoteNode) setProfile(ctx context.Context, p Profile) (int, error) {
	out, err := r.c.SetProfile(ctx, api.Profile(p))
	return out.Written, err
}

func (r *remoteNode) profile(ctx context.Context) (Profile, error) {
	p, err := r.c.Profile(ctx)
	return Profile(p), err
}
