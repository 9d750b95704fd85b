package commit

import (
	"errors"
	"fmt"
	"time"
)

// KindRetention sets a space's retention policy (#14): its payload is a
// Retention. Only an admin of the whole space may write one; the policy in
// force is the latest that counts, by (time, author, seq, op).
const KindRetention Kind = 24

// Retention is how long replicas keep the payloads of superseded and
// deleted writes: all of them (KeepHistory), none (LiveOnly), or those
// younger than After.
type Retention struct {
	Mode  RetentionMode
	After time.Duration // Mode RetainFor: keep superseded payloads this long (≥ 1 minute)
}

// RetentionMode is a retention policy's kind.
type RetentionMode uint8

// Retention modes.
const (
	KeepHistory RetentionMode = 0
	LiveOnly    RetentionMode = 1
	RetainFor   RetentionMode = 2
)

// MaxRetention bounds RetainFor's duration (100 years).
const MaxRetention = 100 * 365 * 24 * time.Hour

// retentionModes names the modes, as the CLI, the API and package loam
// spell them.
var retentionModes = [...]string{KeepHistory: "keep-history", LiveOnly: "live-only", RetainFor: "for"}

func (m RetentionMode) String() string {
	if int(m) < len(retentionModes) {
		return retentionModes[m]
	}
	return fmt.Sprintf("retention(%d)", uint8(m))
}

// ParseRetentionMode reads a mode's name ("" is keep-history).
func ParseRetentionMode(s string) (RetentionMode, error) {
	if s == "" {
		return KeepHistory, nil
	}
	for m, name := range retentionModes {
		if s == name {
			return RetentionMode(m), nil
		}
	}
	return 0, fmt.Errorf("retention %q: want keep-history, live-only, or for with a duration", s)
}

// Validate checks r's mode and duration.
func (r Retention) Validate() error {
	switch {
	case r.Mode > RetainFor:
		return fmt.Errorf("retention mode %d is unknown", r.Mode)
	case r.Mode == RetainFor && (r.After < time.Minute || r.After > MaxRetention):
		return fmt.Errorf("a retention of %s is out of range: from 1m to 100 years", r.After)
	case r.Mode != RetainFor && r.After != 0:
		return errors.New("a duration only goes with a timed retention")
	}
	return nil
}

type wireRetention struct {
	Mode  uint64 `cbor:"1,keyasint"`
	After uint64 `cbor:"2,keyasint,omitempty"` // µs
}

// RetentionOp returns the op setting r.
func RetentionOp(r Retention) (Op, error) {
	if err := r.Validate(); err != nil {
		return Op{}, fmt.Errorf("commit: %w", err)
	}
	return Op{Kind: KindRetention, Payload: marshal(wireRetention{Mode: uint64(r.Mode), After: uint64(r.After / time.Microsecond)})}, nil
}

// DecodeRetention parses a retention op's payload strictly.
func DecodeRetention(o Op) (Retention, error) {
	var w wireRetention
	if err := decodeControl(o, KindRetention, &w); err != nil {
		return Retention{}, err
	}
	if w.Mode > uint64(RetainFor) || w.After > uint64(MaxRetention/time.Microsecond) {
		return Retention{}, fmt.Errorf("%w: retention mode %d, %d µs out of range", ErrMalformed, w.Mode, w.After)
	}
	r := Retention{Mode: RetentionMode(w.Mode), After: time.Duration(w.After) * time.Microsecond}
	if err := r.Validate(); err != nil {
		return Retention{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return r, nil
}
