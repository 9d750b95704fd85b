package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// command is a program of bench/cmd, built once per process into a
// temporary folder.
type command struct {
	name string
	once sync.Once
	bin  string
	err  error
}

var (
	loamsyncCmd = &command{name: "loamsync"}
	loamidleCmd = &command{name: "loamidle"}
)

// build returns the program's path, building it on the first call.
func (c *command) build() (string, error) {
	c.once.Do(func() {
		dir, err := os.MkdirTemp("", "loam-bench-bin-")
		if err != nil {
			c.err = err
			return
		}
		c.bin = filepath.Join(dir, c.name)
		out, err := exec.Command("go", "build", "-o", c.bin, "github.com/loamdb/loam/bench/cmd/"+c.name).CombinedOutput()
		if err != nil {
			c.err = fmt.Errorf("bench: building %s: %v\n%s", c.name, err, out)
		}
	})
	return c.bin, c.err
}

// removeBuilt removes the programs built by this process: a test binary
// calls it once its tests are done (TestMain), so no folder of binaries
// is left in the temporary directory.
func removeBuilt() {
	for _, c := range []*command{loamsyncCmd, loamidleCmd} {
		if c.bin != "" {
			os.RemoveAll(filepath.Dir(c.bin))
		}
	}
	if nodeTest.bin != "" {
		os.RemoveAll(filepath.Dir(nodeTest.bin))
	}
}

// buildLoamsync builds bench/cmd/loamsync once per process.
func buildLoamsync() (string, error) { return loamsyncCmd.build() }

type loamHello struct {
	Ticket        string  `json:"ticket"`
	AppendSeconds float64 `json:"append_seconds"`
}

// valid says whether the writer's hello names a ticket.
func (h loamHello) valid() bool { return h.Ticket != "" }

type loamReadResult struct {
	Blocks  int     `json:"blocks"`
	Seconds float64 `json:"seconds"`
	BytesIn int64   `json:"bytes_in"`
}

// RunLoam runs w between two Loam processes as [RunHypercore] does between
// two Hypercore processes: the writer fills a space with w.Blocks values of
// w.BlockSize bytes in commits of w.Batch ops (not timed), the reader
// joins it by ticket over 127.0.0.1, and Seconds runs from the join's
// connect until every value is verified (signature, chain, grant) and
// durably stored: each batch the reader applies is fsynced before it
// counts, which Hypercore's store does not do.
func RunLoam(ctx context.Context, w Workload) (res Result, err error) {
	if err := w.Validate(); err != nil {
		return Result{}, err
	}
	bin, err := buildLoamsync()
	if err != nil {
		return Result{}, err
	}
	if w.BlockSize >= LargeBlock {
		return runLoamBlob(ctx, bin, w)
	}
	ctx, cancel := withRunTimeout(ctx)
	defer cancel()
	tmp, err := os.MkdirTemp("", "loam-bench-loam-")
	if err != nil {
		return Result{}, fmt.Errorf("bench: %v", err)
	}
	defer os.RemoveAll(tmp)
	n, s, b := strconv.Itoa(w.Blocks), strconv.Itoa(w.BlockSize), strconv.Itoa(w.Batch)

	wr := exec.CommandContext(ctx, bin, "write", "--blocks", n, "--size", s, "--batch", b, "--home", filepath.Join(tmp, "writer"))
	wp, h, err := startHello(ctx, "loamsync writer", wr, loamHello.valid)
	if err != nil {
		return Result{}, err
	}
	defer wp.Stop()

	rd := exec.CommandContext(ctx, bin, "read", "--ticket", h.Ticket, "--blocks", n, "--home", filepath.Join(tmp, "reader"))
	rd.WaitDelay = 5 * time.Second
	rdStderr := &tailBuffer{max: 16 << 10}
	rd.Stderr = rdStderr
	out, err := rd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("bench: loamsync reader: %v\n%s", err, rdStderr)
	}
	var r loamReadResult
	if err := json.Unmarshal(out, &r); err != nil || r.Blocks != w.Blocks || r.Seconds <= 0 {
		return Result{}, fmt.Errorf("bench: loamsync reader: unexpected output %q", out)
	}
	return Result{System: "loam", Blocks: r.Blocks, Bytes: w.Bytes(), Seconds: r.Seconds}.withRates(), nil
}

// LargeBlock is the block size from which Loam's side of a workload is a
// blob: values this large are blobs in Loam (a space holds references to
// them), so the workload's bytes become one blob of Blocks×BlockSize bytes.
const LargeBlock = 64 << 10

type loamBlobHello struct {
	Addr string `json:"addr"`
	Blob string `json:"blob"`
}

func (h loamBlobHello) valid() bool { return h.Addr != "" && h.Blob != "" }

// runLoamBlob is RunLoam for large blocks: the writer adds one blob of
// w.Bytes() random bytes (not timed); the reader connects to it over
// 127.0.0.1 and fetches the blob, and Seconds runs from the connect until
// the fetch has verified every chunk and made it durable (one syncfs when
// it ends), which Hypercore's store does not do. Blocks counts the
// workload's blocks, not the blob's 1 MiB chunks.
func runLoamBlob(ctx context.Context, bin string, w Workload) (Result, error) {
	ctx, cancel := withRunTimeout(ctx)
	defer cancel()
	tmp, err := os.MkdirTemp("", "loam-bench-blob-")
	if err != nil {
		return Result{}, fmt.Errorf("bench: %v", err)
	}
	defer os.RemoveAll(tmp)
	wr := exec.CommandContext(ctx, bin, "write", "--blob", "--blocks", strconv.Itoa(w.Blocks), "--size", strconv.Itoa(w.BlockSize), "--home", filepath.Join(tmp, "writer"))
	wp, h, err := startHello(ctx, "loamsync blob writer", wr, loamBlobHello.valid)
	if err != nil {
		return Result{}, err
	}
	defer wp.Stop()
	rd := exec.CommandContext(ctx, bin, "read", "--blob-id", h.Blob, "--addr", h.Addr, "--home", filepath.Join(tmp, "reader"))
	rd.WaitDelay = 5 * time.Second
	rdStderr := &tailBuffer{max: 16 << 10}
	rd.Stderr = rdStderr
	out, err := rd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("bench: loamsync blob reader: %v\n%s", err, rdStderr)
	}
	var r struct {
		Seconds float64 `json:"seconds"`
		BytesIn int64   `json:"bytes_in"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Seconds <= 0 || r.BytesIn != w.Bytes() {
		return Result{}, fmt.Errorf("bench: loamsync blob reader: unexpected output %q (want %d bytes fetched)", out, w.Bytes())
	}
	return Result{System: "loam", Blocks: w.Blocks, Bytes: w.Bytes(), Seconds: r.Seconds}.withRates(), nil
}

// Latency is write-to-visible latency between two processes.
type Latency struct {
	Writes        int
	P50, P99, Max float64 // milliseconds
}

// RunLoamLatency syncs a small space between two Loam processes, then has
// the writer make writes single durable puts, a few milliseconds apart,
// and the reader time each from the moment it was written (the value holds
// the write's time; both processes share this machine's clock) until its
// watch delivers it.
func RunLoamLatency(ctx context.Context, writes int) (Latency, error) {
	bin, err := buildLoamsync()
	if err != nil {
		return Latency{}, err
	}
	tmp, err := os.MkdirTemp("", "loam-bench-lat-")
	if err != nil {
		return Latency{}, err
	}
	defer os.RemoveAll(tmp)
	lw := strconv.Itoa(writes)
	wr := exec.CommandContext(ctx, bin, "write", "--blocks", "100", "--batch", "100", "--latency", lw, "--home", filepath.Join(tmp, "w"))
	wp, h, err := startHello(ctx, "latency writer", wr, loamHello.valid)
	if err != nil {
		return Latency{}, err
	}
	defer wp.Stop()
	rd := exec.CommandContext(ctx, bin, "read", "--ticket", h.Ticket, "--blocks", "100", "--latency", lw, "--home", filepath.Join(tmp, "r"))
	rd.WaitDelay = 5 * time.Second
	ready := &lineWriter{line: make(chan []byte, 1)}
	rd.Stderr = ready
	var out bytes.Buffer
	rd.Stdout = &out
	if err := rd.Start(); err != nil {
		return Latency{}, err
	}
	select {
	case <-ready.line:
		io.WriteString(wp.stdin, "go\n")
	case <-ctx.Done():
		rd.Process.Kill()
		rd.Wait()
		return Latency{}, ctx.Err()
	}
	if err := rd.Wait(); err != nil {
		return Latency{}, fmt.Errorf("bench: latency reader: %v", err)
	}
	var r struct {
		P50 float64 `json:"latency_ms_p50"`
		P99 float64 `json:"latency_ms_p99"`
		Max float64 `json:"latency_ms_max"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return Latency{}, fmt.Errorf("bench: latency reader said %q", out.String())
	}
	return Latency{Writes: writes, P50: r.P50, P99: r.P99, Max: r.Max}, nil
}
