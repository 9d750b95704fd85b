package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ManyValueSize is the size of a value in the many-authors workload: a
// chat message of storetest.GenChat is a 20-byte value.
const ManyValueSize = 20

// Many is issue 16's many-authors workload: Authors authors write Per
// single-op commits each (20-byte values, one commit or append per value,
// nothing batched), then a fresh peer syncs all of them over loopback TCP.
type Many struct {
	Authors, Per int
}

// Commits is the number of values the workload writes.
func (m Many) Commits() int { return m.Authors * m.Per }

func (m Many) String() string { return fmt.Sprintf("%d authors × %d", m.Authors, m.Per) }

// Validate reports whether m can be run.
func (m Many) Validate() error {
	if m.Authors <= 0 || m.Per <= 0 {
		return fmt.Errorf("bench: workload %v: Authors and Per must both be positive", m)
	}
	return nil
}

// ManySystem is a named runner of the many-authors workload.
type ManySystem struct {
	Name string
	Run  func(ctx context.Context, m Many) (Result, error)
}

// ManySystems lists every system the many-authors comparison runs, Loam
// first.
func ManySystems() []ManySystem {
	return []ManySystem{
		{Name: "loam", Run: RunLoamMany},
		{Name: "hypercore", Run: RunHypercoreMany},
	}
}

// manyHello is manywriter.js's first stdout line.
type manyHello struct {
	Port   int   `json:"port"`
	Cores  int   `json:"cores"`
	Blocks int   `json:"blocks"`
	Bytes  int64 `json:"bytes"`
}

func (h manyHello) valid() bool { return h.Port != 0 && h.Cores > 0 }

// RunHypercoreMany runs m once between two Hypercore 11 processes.
// Hypercore is single-writer, so each author is a core of its own:
// manywriter.js fills a Corestore with m.Authors cores of m.Per blocks of
// ManyValueSize bytes, one append per block, and listens on 127.0.0.1;
// manyreader.js opens the same cores by key in an empty Corestore, dials
// it and replicates the whole Corestore over that one connection. Seconds
// runs from the connect until every block of every core is verified and
// stored. Both processes and their storage are gone when it returns.
func RunHypercoreMany(ctx context.Context, m Many) (Result, error) {
	if err := m.Validate(); err != nil {
		return Result{}, err
	}
	return runHypercore(ctx, "loam-bench-hcmany-", func(ctx context.Context, hc *hypercoreRun) (Result, error) {
		keys := hc.path("keys")
		per, size := strconv.Itoa(m.Per), strconv.Itoa(ManyValueSize)

		wr := hc.command(ctx, "manywriter.js",
			"--authors", strconv.Itoa(m.Authors), "--per", per, "--size", size, "--port", "0",
			"--dir", hc.path("writer"), "--keys", keys, "--stdin-lifeline", "1")
		wp, h, err := startHello(ctx, "manywriter.js", wr, manyHello.valid)
		if err != nil {
			return Result{}, err
		}
		defer wp.Stop()
		if h.Cores != m.Authors || h.Blocks != m.Commits() {
			return Result{}, fmt.Errorf("bench: manywriter.js wrote %d cores / %d blocks, want %d / %d", h.Cores, h.Blocks, m.Authors, m.Commits())
		}

		// The writer is idle once it has said hello: its CPU from now until
		// the reader is done is its share of the sync.
		wcpu0, wcpuErr := procCPU(wr.Process.Pid)
		r, err := hc.read(ctx, m, "manyreader.js",
			"--keys", keys, "--port", strconv.Itoa(h.Port), "--per", per, "--size", size,
			"--dir", hc.path("reader"))
		if err != nil {
			return Result{}, err
		}
		want := int64(m.Commits()) * ManyValueSize
		if r.Blocks != m.Commits() || r.Bytes != want || r.Seconds <= 0 {
			return Result{}, fmt.Errorf("bench: manyreader.js reported %d blocks / %d bytes in %gs, want %d / %d",
				r.Blocks, r.Bytes, r.Seconds, m.Commits(), want)
		}
		res := Result{System: "hypercore", Blocks: r.Blocks, Bytes: r.Bytes, Seconds: r.Seconds}.withRates()
		if wcpu1, err := procCPU(wr.Process.Pid); err == nil && wcpuErr == nil && r.CPUSeconds > 0 {
			res.CPUSeconds = r.CPUSeconds + wcpu1 - wcpu0
		}
		return res, nil
	})
}

// procCPU returns the CPU seconds (user+system) process pid has used so
// far, from /proc/pid/stat (in clock ticks, 100 a second on Linux).
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces): utime is
	// field 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %q", pid, b)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %q", pid, b)
	}
	return (ut + st) / 100, nil
}

// nodeTest is internal/node's test binary, built once per process: Loam's
// side of the many-authors workload is its BenchmarkManyAuthorsSync.
var nodeTest = struct {
	once sync.Once
	bin  string
	err  error
}{}

// buildNodeTest returns the path of internal/node's test binary, building
// it on the first call (removed by removeBuilt).
func buildNodeTest() (string, error) {
	nodeTest.once.Do(func() {
		dir, err := os.MkdirTemp("", "loam-bench-bin-")
		if err != nil {
			nodeTest.err = err
			return
		}
		nodeTest.bin = filepath.Join(dir, "node.test")
		out, err := exec.Command("go", "test", "-c", "-o", nodeTest.bin, "github.com/loamdb/loam/internal/node").CombinedOutput()
		if err != nil {
			nodeTest.err = fmt.Errorf("bench: building internal/node's tests: %v\n%s", err, out)
		}
	})
	return nodeTest.bin, nodeTest.err
}

// manyAuthorsSizes are the author counts BenchmarkManyAuthorsSync has a
// sub-benchmark for.
var manyAuthorsSizes = []int{10, 100, 1000}

var commitsPerSec = regexp.MustCompile(`([0-9.e+]+) commits/s\b`)
var commitsPerCPU = regexp.MustCompile(`([0-9.e+]+) commits/cpu-s\b`)

// RunLoamMany runs m once through internal/node's BenchmarkManyAuthorsSync
// (one process, its own temporary directory): the history is
// storetest.GenChat's (m.Authors authors, 10 writing at a time, single-op
// commits of 20-byte values or deletes, each commit depending on the heads
// its author received since its previous one), stored in a node (not
// timed); a fresh node joins the space by its ID over 127.0.0.1, and
// Seconds runs from the join until the joiner's view and heads are the
// holder's. Both nodes run with NoSync, as Hypercore's RocksDB does not
// fsync. Blocks counts the commits, the genesis included; CPUSeconds is
// from the benchmark's commits per CPU second of both nodes.
func RunLoamMany(ctx context.Context, m Many) (Result, error) {
	if err := m.Validate(); err != nil {
		return Result{}, err
	}
	found := false
	for _, n := range manyAuthorsSizes {
		found = found || n == m.Authors
	}
	if !found {
		return Result{}, fmt.Errorf("bench: BenchmarkManyAuthorsSync has no sub-benchmark for %d authors (it has %v)", m.Authors, manyAuthorsSizes)
	}
	bin, err := buildNodeTest()
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := withRunTimeout(ctx)
	defer cancel()
	tmp, err := os.MkdirTemp("", "loam-bench-many-")
	if err != nil {
		return Result{}, fmt.Errorf("bench: %v", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^$",
		"-test.bench", fmt.Sprintf("^BenchmarkManyAuthorsSync$/^authors=%d$", m.Authors),
		"-test.benchtime", "1x", "-many.per", strconv.Itoa(m.Per))
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("bench: loam %v: %w", m, context.Cause(ctx))
		}
		return Result{}, fmt.Errorf("bench: BenchmarkManyAuthorsSync: %v\n%s", err, tail(out, 4096))
	}
	rate := commitsPerSec.FindSubmatch(out)
	if rate == nil {
		return Result{}, fmt.Errorf("bench: BenchmarkManyAuthorsSync: no commits/s in %q", tail(out, 4096))
	}
	perSec, err := strconv.ParseFloat(string(rate[1]), 64)
	if err != nil || !(perSec > 0) {
		return Result{}, fmt.Errorf("bench: BenchmarkManyAuthorsSync: commits/s %q", rate[1])
	}
	commits := m.Commits() + 1 // the benchmark counts the genesis
	r := Result{System: "loam", Blocks: commits, Bytes: int64(m.Commits()) * ManyValueSize, Seconds: float64(commits) / perSec}.withRates()
	if cpu := commitsPerCPU.FindSubmatch(out); cpu != nil {
		if perCPU, err := strconv.ParseFloat(string(cpu[1]), 64); err == nil && perCPU > 0 {
			r.CPUSeconds = float64(commits) / perCPU
		}
	}
	return r, nil
}
