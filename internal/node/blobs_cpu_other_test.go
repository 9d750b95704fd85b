//go:build !unix

package node

import "time"

// cpuTime is not measured here: the benchmarks report 0 cpu-s/op.
func cpuTime() time.Duration { return 0 }
