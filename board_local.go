package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

func (s *localSpace) polls(ctx context.Context) ([]api.Poll, error) { return api.Polls(ctx, s.n, s.sp) }

func (s *localSpace) poll(ctx context.Context, id string) (api.Poll, error) {
	return api.PollOf(ctx, s.n, s.sp, id)
}
