//go:build !unix

package loam_test

import "time"

// cpuTime is not measured here: the benchmarks report 0 cpu-µs/op.
func cpuTime() time.Duration { return 0 }

// readCalls is not counted here: the benchmarks report no reads/op.
func readCalls() int64 { return -1 }
