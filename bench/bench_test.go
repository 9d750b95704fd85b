package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needNode skips t unless the Hypercore side can run here.
func needNode(t *testing.T) {
	t.Helper()
	if os.Getenv("LOAM_BENCH_SKIP_NODE") == "1" {
		t.Skip("LOAM_BENCH_SKIP_NODE=1: skipping the Hypercore (Node.js) side of the benchmarks")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("Node.js (`node`) is not installed: skipping the Hypercore side of the benchmarks (install Node.js >= 20 and npm to run it)")
	}
	if err := EnsureHypercore(HypercoreDir()); err != nil {
		if errors.Is(err, ErrNodeMissing) {
			t.Skipf("skipping the Hypercore side of the benchmarks: %v", err)
		}
		t.Fatal(err)
	}
}

// isolateTemp points TMPDIR at a fresh directory for the rest of the test,
// so that leftovers (storage dirs, temp files) can be detected.
func isolateTemp(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "loam-bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	t.Setenv("TMPDIR", root)
	return root
}

// checkNoLeftovers fails t if anything is left in root or any process still
// has root on its command line (every writer.js/reader.js gets a --dir
// under it).
func checkNoLeftovers(t *testing.T, root string) {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(procs) == 0 {
		return // no /proc here: cannot check processes
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, root) {
			t.Errorf("process left running: %s: %s", filepath.Base(filepath.Dir(p)), cmd)
		}
	}
}

// runHarness runs a Hypercore harness (run) with a fresh TMPDIR and a
// context that ends after timeout, skipping t unless Node.js is there; it
// fails t if the run leaves anything in TMPDIR or a process running, and
// returns what run returned and how long it took.
func runHarness(t *testing.T, timeout time.Duration, run func(context.Context) (Result, error)) (Result, time.Duration, error) {
	t.Helper()
	needNode(t)
	root := isolateTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	r, err := run(ctx)
	took := time.Since(start)
	checkNoLeftovers(t, root)
	return r, took, err
}

// checkHarnessDeadline checks that run, a Hypercore harness given a
// workload that takes longer than 1.5s, cut short by its context's 1.5s
// deadline, ends promptly with the context's error and leaves nothing
// behind.
func checkHarnessDeadline(t *testing.T, run func(context.Context) (Result, error)) {
	t.Helper()
	_, took, err := runHarness(t, 1500*time.Millisecond, run)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if took > 20*time.Second {
		t.Errorf("took %v to give up after a 1.5s deadline", took)
	}
}

func TestHypercoreHarness(t *testing.T) {
	w := Workload{Blocks: 2000, BlockSize: 100, Batch: 100}
	r, _, err := runHarness(t, 3*time.Minute, func(ctx context.Context) (Result, error) { return RunHypercore(ctx, w) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %+v", w, r)
	if r.System != "hypercore" || r.Blocks != 2000 || r.Bytes != 200000 {
		t.Errorf("got %+v, want system hypercore, 2000 blocks, 200000 bytes", r)
	}
	if !(r.Seconds > 0) || !(r.BlocksPerSec > 0) || !(r.MBPerSec > 0) {
		t.Errorf("got %+v, want positive time and rates", r)
	}
	if got := float64(r.Blocks) / r.Seconds; got != r.BlocksPerSec {
		t.Errorf("BlocksPerSec = %v, want Blocks/Seconds = %v", r.BlocksPerSec, got)
	}
}

// TestHypercoreHarnessDeadline checks that a run cut short by its context
// ends promptly with the context's error and leaves nothing behind.
func TestHypercoreHarnessDeadline(t *testing.T) {
	checkHarnessDeadline(t, func(ctx context.Context) (Result, error) {
		// Appending this takes the writer several seconds: the deadline
		// hits while the harness waits for it.
		return RunHypercore(ctx, Workload{Blocks: 400_000, BlockSize: 100, Batch: 1000})
	})
}

func TestWorkloadValidate(t *testing.T) {
	for _, w := range []Workload{{}, {Blocks: 1, BlockSize: 1}, {Blocks: -1, BlockSize: 1, Batch: 1}} {
		if w.Validate() == nil {
			t.Errorf("%+v: Validate() = nil, want error", w)
		}
		if _, err := RunHypercore(context.Background(), w); err == nil {
			t.Errorf("%+v: RunHypercore succeeded, want error", w)
		}
	}
	if err := (Workload{Blocks: 1, BlockSize: 1, Batch: 1}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestMedian(t *testing.T) {
	runs := []Result{{Seconds: 3}, {Seconds: 1}, {Seconds: 2}}
	if got := Median(runs).Seconds; got != 2 {
		t.Errorf("Median = %v, want 2", got)
	}
	if runs[0].Seconds != 3 {
		t.Error("Median reordered its argument")
	}
	if got := Median(runs[:2]).Seconds; got != 1 {
		t.Errorf("Median of two = %v, want the lower, 1", got)
	}
	if got := Median(nil); got != (Result{}) {
		t.Errorf("Median(nil) = %+v", got)
	}
}

// FigureWorkloads are the workloads whose figures go to docs/benchmarks.md.
var FigureWorkloads = []Workload{
	{Blocks: 100_000, BlockSize: 100, Batch: 1000},
	{Blocks: 100_000, BlockSize: 100, Batch: 1},
	{Blocks: 4096, BlockSize: 64 << 10, Batch: 64}, // 256 MiB
}

// TestHypercoreFigures runs every system in Systems() on every
// FigureWorkloads entry, LOAM_BENCH_RUNS times each (default 3, systems
// interleaved), and prints the medians as a Markdown table (also written to
// $LOAM_BENCH_OUT if set). It runs only when LOAM_BENCH=1; give go test a
// long -timeout (see README.md).
func TestHypercoreFigures(t *testing.T) {
	runs := figureRuns(t, "set LOAM_BENCH=1 to run the benchmark figures (takes minutes; use -timeout 60m)")

	type row struct {
		w      Workload
		system string
		runs   []Result
	}
	var rows []row
	for _, w := range FigureWorkloads {
		if only := os.Getenv("LOAM_BENCH_ONLY"); only != "" && only != strconv.Itoa(w.BlockSize) {
			t.Logf("skipping %v: LOAM_BENCH_ONLY=%s (a block size)", w, only)
			continue
		}
		byName := map[string]*row{}
		var order []string
		for i := 0; i < runs; i++ {
			for _, sys := range Systems() {
				ctx, cancel := context.WithTimeout(context.Background(), DefaultRunTimeout)
				r, err := sys.Run(ctx, w)
				cancel()
				if err != nil {
					t.Fatalf("%s %v run %d: %v", sys.Name, w, i+1, err)
				}
				t.Logf("%-9s %-28v run %d: %8.3fs %10.0f blocks/s %8.2f MB/s", sys.Name, w, i+1, r.Seconds, r.BlocksPerSec, r.MBPerSec)
				if byName[sys.Name] == nil {
					byName[sys.Name] = &row{w: w, system: sys.Name}
					order = append(order, sys.Name)
				}
				byName[sys.Name].runs = append(byName[sys.Name].runs, r)
			}
		}
		for _, name := range order {
			rows = append(rows, *byName[name])
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Sync over loopback TCP, median of %d runs (MB = 10^6 bytes; time from connect until every block is verified and stored on the reader).\n\n", runs)
	fmt.Fprintf(&b, "| workload | system | seconds | blocks/s | MB/s | runs (s) |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---|\n")
	for _, r := range rows {
		m := Median(r.runs)
		fmt.Fprintf(&b, "| %d × %d B, batch %d | %s | %.2f | %.0f | %.2f | %s |\n",
			r.w.Blocks, r.w.BlockSize, r.w.Batch, r.system, m.Seconds, m.BlocksPerSec, m.MBPerSec, runSeconds(r.runs))
	}
	writeFigures(t, b.String())
}

// figureRuns skips t with skip unless LOAM_BENCH=1 and the Hypercore side
// can run, and returns how many times to run each system on each workload:
// LOAM_BENCH_RUNS, default 3.
func figureRuns(t *testing.T, skip string) int {
	t.Helper()
	if os.Getenv("LOAM_BENCH") != "1" {
		t.Skip(skip)
	}
	needNode(t)
	runs := 3
	if s := os.Getenv("LOAM_BENCH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LOAM_BENCH_RUNS=%q: want a positive integer", s)
		}
		runs = n
	}
	return runs
}

// runSeconds lists the seconds of rs for a figures table: "1.23, 1.19".
func runSeconds(rs []Result) string {
	var all []string
	for _, x := range rs {
		all = append(all, strconv.FormatFloat(x.Seconds, 'f', 2, 64))
	}
	return strings.Join(all, ", ")
}

// writeFigures logs a figures table and writes it to $LOAM_BENCH_OUT if
// set.
func writeFigures(t *testing.T, table string) {
	t.Helper()
	t.Logf("figures:\n%s", table)
	if out := os.Getenv("LOAM_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestLoamHarness runs a small Loam sync between two processes end to end.
func TestLoamHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := Workload{Blocks: 2000, BlockSize: 100, Batch: 100}
	r, err := RunLoam(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if r.Blocks != 2000 || r.BlocksPerSec <= 0 || r.Bytes != w.Bytes() {
		t.Fatalf("result %+v", r)
	}
	t.Logf("loam %v: %.3fs, %.0f blocks/s", w, r.Seconds, r.BlocksPerSec)
}

// TestLoamBlobHarness runs the large-block workload's Loam side (a blob
// fetched between two processes) end to end, small.
func TestLoamBlobHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := Workload{Blocks: 40, BlockSize: LargeBlock, Batch: 8} // 2.5 MiB: three chunks
	r, err := RunLoam(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if r.Blocks != w.Blocks || r.Bytes != w.Bytes() || !(r.MBPerSec > 0) {
		t.Fatalf("result %+v", r)
	}
	t.Logf("loam %v as a blob: %.3fs, %.1f MB/s", w, r.Seconds, r.MBPerSec)
}

// TestLoamLatency measures write-to-visible latency between two processes
// (LOAM_BENCH=1 only; a figure, not a pass/fail timing).
func TestLoamLatency(t *testing.T) {
	if os.Getenv("LOAM_BENCH") != "1" {
		t.Skip("set LOAM_BENCH=1 to measure latency")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := RunLoamLatency(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("write-to-visible latency over %d writes: p50 %.2f ms, p99 %.2f ms, max %.2f ms", l.Writes, l.P50, l.P99, l.Max)
}

// TestLoamIdle measures four daemons sharing two spaces, connected and in
// sync, then idle (and one daemon alone), all in the same window: CPU,
// context switches and goroutine wake-ups by source (LOAM_BENCH=1 only;
// LOAM_IDLE_WINDOW, default 60s; a figure, not a pass/fail timing).
func TestLoamIdle(t *testing.T) {
	if os.Getenv("LOAM_BENCH") != "1" {
		t.Skip("set LOAM_BENCH=1 to measure idle daemons")
	}
	window := 60 * time.Second
	if s := os.Getenv("LOAM_IDLE_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		window = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+window)
	defer cancel()
	res, err := RunLoamIdle(ctx, IdleOptions{Daemons: 4, Spaces: 2, Alone: true, Settle: 15 * time.Second, Window: window, DHT: "private", MDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Name != "alone" && r.Peers < 3 {
			t.Errorf("%s has %d peers, want 3", r.Name, r.Peers)
		}
		t.Logf("%-5s peers %d: CPU %.3f%% of a core, voluntary ctx switches %.1f/s, involuntary %.1f/s, goroutines scheduled %.1f/s (trace: %.1f wake-ups/s), GCs %d, goroutines %d",
			r.Name, r.Peers, r.CPUPercent, r.VolCtxPerSec, r.InvolCtxPerSec, r.SchedPerSec, r.TraceWakePerSec, r.GCs, r.Goroutines)
		for _, s := range r.Sources {
			t.Logf("      %6.2f/s %s", s.PerSec, s.Where)
		}
	}
}
