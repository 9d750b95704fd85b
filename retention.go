package loam

import (
	"context"
	"time"

	"github.com/loamdb/loam/internal/commit"
)

// Retention is how long the replicas of a space keep the values of
// superseded and deleted writes (#14): all of them (KeepHistory, the
// default), none (LiveOnly), or those younger than After (RetainFor). Live
// values are always kept; history still verifies either way.
type Retention struct {
	Mode  RetentionMode
	After time.Duration // RetainFor only: from 1 minute to 100 years
}

// RetentionMode is a retention policy's kind.
type RetentionMode string

// Retention modes.
const (
	KeepHistory RetentionMode = "keep-history"
	LiveOnly    RetentionMode = "live-only"
	RetainFor   RetentionMode = "for"
)

func (r Retention) String() string {
	if r.Mode == RetainFor {
		return r.After.String()
	}
	if r.Mode == "" {
		return string(KeepHistory)
	}
	return string(r.Mode)
}

// toCommit converts r to the op's form, checked.
func (r Retention) toCommit() (commit.Retention, error) {
	m, err := commit.ParseRetentionMode(string(r.Mode))
	if err != nil {
		return commit.Retention{}, err
	}
	c := commit.Retention{Mode: m}
	if m == commit.RetainFor {
		c.After = r.After
	}
	return c, c.Validate()
}

func retentionOf(c commit.Retention) Retention {
	return Retention{Mode: RetentionMode(c.Mode.String()), After: c.After}
}

// SetRetention sets the space's retention policy; this device must be an
// admin of the whole space. Each replica applies it by itself, within
// minutes (a daemon at once when it receives it): it drops, from its own
// disk, the values the policy no longer keeps.
func (s *Space) SetRetention(ctx context.Context, r Retention) error {
	c, err := r.toCommit()
	if err != nil {
		return err
	}
	return s.impl.setRetention(ctx, c)
}

// Retention returns the space's retention policy in force.
func (s *Space) Retention(ctx context.Context) (Retention, error) {
	c, err := s.impl.retention(ctx)
	return retentionOf(c), err
}
