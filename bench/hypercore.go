package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// HypercoreVersion is the exact hypercore release bench/hypercore pins.
const HypercoreVersion = "11.37.1"

// DefaultRunTimeout bounds a RunHypercore call whose context has no deadline.
const DefaultRunTimeout = 15 * time.Minute

// ErrNodeMissing is returned when node or npm is not on PATH.
var ErrNodeMissing = errors.New("bench: Node.js not found")

// HypercoreDir is the directory holding the Hypercore scripts and their
// package.json: $LOAM_BENCH_HYPERCORE_DIR if set, else the hypercore folder
// beside this source file.
func HypercoreDir() string {
	if d := os.Getenv("LOAM_BENCH_HYPERCORE_DIR"); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "hypercore"
	}
	return filepath.Join(filepath.Dir(file), "hypercore")
}

// stampName is written into node_modules after a successful npm ci; it holds
// a hash of everything the install depends on.
const stampName = ".loam-bench-stamp"

var ensureMu sync.Mutex

// EnsureHypercore makes dir's node_modules match its package-lock.json,
// running `npm ci` there if node_modules is missing or was installed from a
// different package.json, package-lock.json or Node.js version. It returns
// an error wrapping ErrNodeMissing if node or npm is not installed.
func EnsureHypercore(dir string) error {
	ensureMu.Lock()
	defer ensureMu.Unlock()

	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("%w: no `node` on PATH (the Hypercore side of the benchmarks needs Node.js >= 20 and npm)", ErrNodeMissing)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("%w: no `npm` on PATH (needed once, to install bench/hypercore's packages)", ErrNodeMissing)
	}
	want, err := installStamp(dir, node)
	if err != nil {
		return err
	}
	stamp := filepath.Join(dir, "node_modules", stampName)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return nil
	}

	cmd := exec.Command(npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench: npm ci in %s: %v\n%s", dir, err, tail(out.Bytes(), 4096))
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		return fmt.Errorf("bench: %v", err)
	}
	return nil
}

// installStamp hashes what node_modules depends on: the manifest, the
// lockfile and the Node.js version (native addons are per-ABI).
func installStamp(dir, node string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("bench: %v (is %s the bench/hypercore folder?)", err, dir)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	v, err := exec.Command(node, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("bench: node --version: %v", err)
	}
	fmt.Fprintf(h, "node %s\n", bytes.TrimSpace(v))
	return hex.EncodeToString(h.Sum(nil)) + "\n", nil
}

// writerHello is writer.js's first stdout line.
type writerHello struct {
	Key           string  `json:"key"`
	Port          int     `json:"port"`
	Blocks        int     `json:"blocks"`
	Bytes         int64   `json:"bytes"`
	AppendSeconds float64 `json:"append_seconds"`
}

// readerResult is reader.js's stdout line.
type readerResult struct {
	Blocks     int     `json:"blocks"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	BlocksPerS float64 `json:"blocks_per_s"`
	MBPerS     float64 `json:"mb_per_s"`
	CPUSeconds float64 `json:"cpu_seconds"` // manyreader.js only
}

// RunHypercore runs w once between two Hypercore 11 processes: writer.js
// appends the blocks and listens on 127.0.0.1, reader.js dials it and
// downloads them all. It installs the Node.js packages first if needed (see
// EnsureHypercore). Both processes and their storage are gone when it
// returns, whatever happened; if ctx has no deadline, DefaultRunTimeout
// applies.
func RunHypercore(ctx context.Context, w Workload) (Result, error) {
	if err := w.Validate(); err != nil {
		return Result{}, err
	}
	return runHypercore(ctx, "loam-bench-hypercore-", func(ctx context.Context, hc *hypercoreRun) (Result, error) {
		n, s, b := strconv.Itoa(w.Blocks), strconv.Itoa(w.BlockSize), strconv.Itoa(w.Batch)

		// Writer. Its stdin is a lifeline: closing it (or our dying) makes it
		// exit; ctx ending kills it outright.
		wr := hc.command(ctx, "writer.js",
			"--blocks", n, "--size", s, "--batch", b, "--port", "0",
			"--dir", hc.path("writer"), "--stdin-lifeline", "1")
		wp, h, err := startHello(ctx, "writer.js", wr, func(h writerHello) bool { return h.Key != "" && h.Port != 0 })
		if err != nil {
			return Result{}, err
		}
		defer wp.Stop()
		if h.Blocks != w.Blocks || h.Bytes != w.Bytes() {
			return Result{}, fmt.Errorf("bench: writer.js wrote %d blocks / %d bytes, want %d / %d", h.Blocks, h.Bytes, w.Blocks, w.Bytes())
		}

		// Reader.
		r, err := hc.read(ctx, w, "reader.js",
			"--key", h.Key, "--port", strconv.Itoa(h.Port), "--blocks", n, "--size", s,
			"--dir", hc.path("reader"))
		if err != nil {
			return Result{}, err
		}
		if r.Blocks != w.Blocks || r.Bytes != w.Bytes() || r.Seconds <= 0 {
			return Result{}, fmt.Errorf("bench: reader.js reported %d blocks / %d bytes in %gs, want %d / %d",
				r.Blocks, r.Bytes, r.Seconds, w.Blocks, w.Bytes())
		}
		return Result{System: "hypercore", Blocks: r.Blocks, Bytes: r.Bytes, Seconds: r.Seconds}.withRates(), nil
	})
}

// lineWriter sends the first line written to it on line and discards the
// rest.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	line chan []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent {
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	if i := bytes.IndexByte(l.buf, '\n'); i >= 0 {
		l.sent = true
		l.line <- l.buf[:i]
		l.buf = nil
	} else if len(l.buf) > 1<<20 {
		return 0, errors.New("writer.js: first output line too long")
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it (a child's stderr, for
// error messages).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
