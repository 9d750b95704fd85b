package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

func (s *remoteSpace) polls(ctx context.Context) ([]api.Poll, error) { return s.c.Polls(ctx, s.in.ID) }

func (s *remoteSpace) poll(ctx context.Context, id string) (api.Poll, error) {
	return s.c.Poll(ctx, s.in.ID, id)
}
