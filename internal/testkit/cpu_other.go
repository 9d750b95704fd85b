//go:build !unix

package testkit

import "time"

// CPUTime is not measured here: benchmarks report 0 CPU per operation.
func CPUTime() time.Duration { return 0 }

// ReadCalls is not counted here: -1.
func ReadCalls() int64 { return -1 }
