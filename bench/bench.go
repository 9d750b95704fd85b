package bench

import (
	"context"
	"fmt"
	"slices"
)

// Workload is one sync benchmark: a writer appends Blocks blocks of
// BlockSize bytes, Batch blocks per append (Batch 1: one append per block),
// then a reader replicates all of them over loopback TCP.
type Workload struct {
	Blocks, BlockSize, Batch int
}

// Bytes is the workload's total payload.
func (w Workload) Bytes() int64 { return int64(w.Blocks) * int64(w.BlockSize) }

func (w Workload) String() string {
	return fmt.Sprintf("%d×%dB batch %d", w.Blocks, w.BlockSize, w.Batch)
}

// Validate reports whether w can be run.
func (w Workload) Validate() error {
	if w.Blocks <= 0 || w.BlockSize <= 0 || w.Batch <= 0 {
		return fmt.Errorf("bench: workload %v: Blocks, BlockSize and Batch must all be positive", w)
	}
	return nil
}

// Result is what one system achieved on one run of a Workload.
//
// Seconds runs from the reader's TCP connect until the reader has verified
// and stored every block; the writer's appends and the opening of either
// store are outside it. BlocksPerSec is Blocks/Seconds and MBPerSec is
// Bytes/10^6/Seconds.
type Result struct {
	System       string
	Blocks       int
	Bytes        int64
	Seconds      float64
	BlocksPerSec float64
	MBPerSec     float64
	// CPUSeconds is the CPU both ends used during Seconds, where the
	// runner measures it (the many-authors runners do), else 0.
	CPUSeconds float64
}

// withRates fills BlocksPerSec and MBPerSec from Blocks, Bytes and Seconds.
func (r Result) withRates() Result {
	if r.Seconds > 0 {
		r.BlocksPerSec = float64(r.Blocks) / r.Seconds
		r.MBPerSec = float64(r.Bytes) / 1e6 / r.Seconds
	}
	return r
}

// Runner runs one Workload once for one system and reports the result. It
// must honour ctx's deadline and leave no processes, listeners or temporary
// files behind, whether it succeeds or not.
type Runner func(ctx context.Context, w Workload) (Result, error)

// System is a named Runner.
type System struct {
	Name string
	Run  Runner
}

// Systems lists every system a comparison runs, Loam first.
func Systems() []System {
	return []System{
		{Name: "loam", Run: RunLoam},
		{Name: "hypercore", Run: RunHypercore},
	}
}

// Median returns the run with the median Seconds (the lower middle one for
// an even count). Since every run of a workload moves the same blocks and
// bytes, it is also the run with the median rates.
func Median(runs []Result) Result {
	if len(runs) == 0 {
		return Result{}
	}
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b Result) int {
		switch {
		case a.Seconds < b.Seconds:
			return -1
		case a.Seconds > b.Seconds:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}
