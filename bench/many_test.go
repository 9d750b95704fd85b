package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHypercoreManyHarness(t *testing.T) {
	m := Many{Authors: 10, Per: 20}
	r, _, err := runHarness(t, 3*time.Minute, func(ctx context.Context) (Result, error) { return RunHypercoreMany(ctx, m) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %+v", m, r)
	if r.System != "hypercore" || r.Blocks != 200 || r.Bytes != 200*ManyValueSize {
		t.Errorf("got %+v, want system hypercore, 200 blocks, %d bytes", r, 200*ManyValueSize)
	}
	if !(r.Seconds > 0) || !(r.BlocksPerSec > 0) || !(r.CPUSeconds > 0) {
		t.Errorf("got %+v, want positive time, rate and CPU", r)
	}
}

// TestHypercoreManyHarnessDeadline checks that a many-authors run cut
// short by its context ends promptly with the context's error and leaves
// nothing behind.
func TestHypercoreManyHarnessDeadline(t *testing.T) {
	checkHarnessDeadline(t, func(ctx context.Context) (Result, error) {
		// Appending this takes the writer well over the deadline.
		return RunHypercoreMany(ctx, Many{Authors: 1000, Per: 1000})
	})
}

// TestLoamManyHarness runs Loam's side of the many-authors workload
// (internal/node's BenchmarkManyAuthorsSync) small, end to end.
func TestLoamManyHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds internal/node's tests and runs them; skipped with -short")
	}
	root := isolateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := Many{Authors: 10, Per: 20}
	r, err := RunLoamMany(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %+v", m, r)
	if r.System != "loam" || r.Blocks != 201 || r.Bytes != 200*ManyValueSize {
		t.Errorf("got %+v, want system loam, 201 commits (the genesis too), %d bytes", r, 200*ManyValueSize)
	}
	if !(r.Seconds > 0) || !(r.BlocksPerSec > 0) || !(r.CPUSeconds > 0) {
		t.Errorf("got %+v, want positive time, rate and CPU", r)
	}
	removeBuilt() // the test binary is under root, which must end empty
	checkNoLeftovers(t, root)
	if _, err := RunLoamMany(ctx, Many{Authors: 7, Per: 1}); err == nil {
		t.Error("7 authors: want an error (the benchmark has no such size)")
	}
}

func TestManyValidate(t *testing.T) {
	for _, m := range []Many{{}, {Authors: 1}, {Per: 1}, {Authors: -1, Per: 1}} {
		if m.Validate() == nil {
			t.Errorf("%+v: Validate() = nil, want error", m)
		}
		if _, err := RunHypercoreMany(context.Background(), m); err == nil {
			t.Errorf("%+v: RunHypercoreMany succeeded, want error", m)
		}
		if _, err := RunLoamMany(context.Background(), m); err == nil {
			t.Errorf("%+v: RunLoamMany succeeded, want error", m)
		}
	}
}

// ManyFigureWorkloads are the many-authors workloads whose figures go to
// docs/benchmarks.md (issue 16's is 1,000 × 1,000).
var ManyFigureWorkloads = []Many{
	{Authors: 100, Per: 200},
	{Authors: 1000, Per: 20},
	{Authors: 1000, Per: 1000},
}

// TestManyAuthorsFigures runs every system in ManySystems() on the
// many-authors workloads, LOAM_BENCH_RUNS times each (default 3, systems
// interleaved), and prints the medians with the Loam/Hypercore ratio as a
// Markdown table (also written to $LOAM_BENCH_OUT if set). It runs only
// when LOAM_BENCH=1; LOAM_BENCH_MANY=100x200,1000x20 picks the workloads
// (default ManyFigureWorkloads). Give go test a long -timeout.
func TestManyAuthorsFigures(t *testing.T) {
	runs := figureRuns(t, "set LOAM_BENCH=1 to run the many-authors figures (takes many minutes; use -timeout 120m)")
	workloads := ManyFigureWorkloads
	if s := os.Getenv("LOAM_BENCH_MANY"); s != "" {
		workloads = nil
		for _, f := range strings.Split(s, ",") {
			var m Many
			if _, err := fmt.Sscanf(f, "%dx%d", &m.Authors, &m.Per); err != nil || m.Validate() != nil {
				t.Fatalf("LOAM_BENCH_MANY=%q: want AUTHORSxPER[,AUTHORSxPER…]", s)
			}
			workloads = append(workloads, m)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Many authors synced to a fresh peer over loopback, median of %d runs (interleaved); time from connect until the reader holds every commit; cpu-s: both ends.\n\n", runs)
	fmt.Fprintf(&b, "| authors × commits each | system | seconds | commits/s | commits/cpu-s | runs (s) |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---|\n")
	var ratios []string
	for _, m := range workloads {
		byName := map[string][]Result{}
		for i := 0; i < runs; i++ {
			for _, sys := range ManySystems() {
				ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
				r, err := sys.Run(ctx, m)
				cancel()
				if err != nil {
					t.Fatalf("%s %v run %d: %v", sys.Name, m, i+1, err)
				}
				t.Logf("%-9s %-22v run %d: %8.2fs %9.0f commits/s %9.0f commits/cpu-s", sys.Name, m, i+1, r.Seconds, r.BlocksPerSec, perCPU(r))
				byName[sys.Name] = append(byName[sys.Name], r)
			}
		}
		for _, sys := range ManySystems() {
			rs := byName[sys.Name]
			med := Median(rs)
			fmt.Fprintf(&b, "| %d × %d | %s | %.2f | %.0f | %.0f | %s |\n",
				m.Authors, m.Per, sys.Name, med.Seconds, med.BlocksPerSec, perCPU(med), runSeconds(rs))
		}
		l, h := Median(byName["loam"]), Median(byName["hypercore"])
		ratios = append(ratios, fmt.Sprintf("%v: Loam/Hypercore %.1fx commits/s, %.1fx commits/cpu-s", m, l.BlocksPerSec/h.BlocksPerSec, perCPU(l)/perCPU(h)))
	}
	b.WriteString("\n" + strings.Join(ratios, "\n") + "\n")
	writeFigures(t, b.String())
}

// perCPU is r's commits per CPU second, 0 when its CPU is unknown.
func perCPU(r Result) float64 {
	if r.CPUSeconds <= 0 {
		return 0
	}
	return float64(r.Blocks) / r.CPUSeconds
}
