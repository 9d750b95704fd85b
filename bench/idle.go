package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// buildLoamidle builds bench/cmd/loamidle once per process, or returns
// $LOAM_IDLE_BIN, a loamidle built elsewhere (from another commit, to
// compare before and after a change with the same harness).
func buildLoamidle() (string, error) {
	if bin := os.Getenv("LOAM_IDLE_BIN"); bin != "" {
		return bin, nil
	}
	return loamidleCmd.build()
}

// IdleOptions describe an idle measurement.
type IdleOptions struct {
	Daemons int           // connected to each other, sharing every space (≥ 1)
	Spaces  int           // created by the first daemon, joined by the others
	Alone   bool          // also one daemon with as many spaces, no peers, no mDNS, no DHT
	Settle  time.Duration // after the sync, before the window
	Window  time.Duration // the idle window measured
	DHT     string        // "off" or "private" (the first daemon is the bootstrap)
	MDNS    bool
}

// IdleResult is one daemon's idle window, as bench/cmd/loamidle measures
// and reports it (one line of JSON).
type IdleResult struct {
	Name       string  `json:"-"` // the daemon's, set by RunLoamIdle
	Seconds    float64 `json:"seconds"`
	Peers      int     `json:"peers"`
	CPUPercent float64 `json:"cpu_percent"` // of one core, user+system
	// Voluntary context switches of the whole process (its threads
	// sleeping and being woken), per second.
	VolCtxPerSec   float64 `json:"vol_ctx_per_sec"`
	InvolCtxPerSec float64 `json:"invol_ctx_per_sec"`
	// Goroutines made runnable, per second: the scheduler's count
	// (/sched/latencies:seconds) times 8, as the runtime samples one
	// transition in 8 (an estimate).
	SchedPerSec float64 `json:"sched_per_sec"`
	GCs         uint64  `json:"gcs"`
	Goroutines  uint64  `json:"goroutines"`
	// From the trace: wake-ups (waiting → runnable) and goroutines
	// created, by source, per second.
	TraceWakePerSec float64      `json:"trace_wake_per_sec"`
	Sources         []IdleSource `json:"sources"`
}

// IdleSource is where wake-ups come from: the goroutine's entry function
// and the innermost frame outside the standard library where it waited.
type IdleSource struct {
	Where  string  `json:"where"`
	PerSec float64 `json:"per_sec"`
	Count  int     `json:"count"`
}

// idleProc is one loamidle process, driven line by line.
type idleProc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan []byte // stdout lines; closed at EOF
	err   *tailBuffer
}

func startIdle(ctx context.Context, bin, name string, args ...string) (*idleProc, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	p := &idleProc{name: name, cmd: cmd, lines: make(chan []byte, 4), err: &tailBuffer{max: 16 << 10}}
	cmd.Stderr = p.err
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %v", name, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	return p, nil
}

// next decodes the process's next output line into v.
func (p *idleProc) next(ctx context.Context, v any) error {
	select {
	case line, ok := <-p.lines:
		if !ok {
			return fmt.Errorf("bench: %s exited\n%s", p.name, p.err)
		}
		if err := json.Unmarshal(line, v); err != nil {
			return fmt.Errorf("bench: %s said %q", p.name, line)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bench: %s: %w\n%s", p.name, ctx.Err(), p.err)
	}
}

func (p *idleProc) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

type idleHello struct {
	Peer    string   `json:"peer"`
	Addrs   []string `json:"addrs"`
	Tickets []string `json:"tickets"`
}

// RunLoamIdle starts o.Daemons loamidle processes on loopback, has the
// first create o.Spaces spaces and the others join them all, connects
// every daemon to every other, waits until every space is in sync with
// every peer, lets them settle, and measures the same idle window in all
// of them at once (and in a daemon alone, with o.Alone).
func RunLoamIdle(ctx context.Context, o IdleOptions) ([]IdleResult, error) {
	bin, err := buildLoamidle()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "loam-bench-idle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	common := []string{"--dht", o.DHT, "--mdns=" + strconv.FormatBool(o.MDNS)}
	var procs []*idleProc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	start := func(name string, args ...string) (*idleProc, idleHello, error) {
		var h idleHello
		args = append([]string{"--home", filepath.Join(tmp, name)}, append(common, args...)...)
		p, err := startIdle(ctx, bin, name, args...)
		if err != nil {
			return nil, h, err
		}
		procs = append(procs, p)
		return p, h, p.next(ctx, &h)
	}
	spaces := strconv.Itoa(o.Spaces)
	first, h0, err := start("d0", "--create", spaces)
	if err != nil {
		return nil, err
	}
	hellos := []idleHello{h0}
	peers := []*idleProc{first}
	boot := []string{}
	if o.DHT == "private" {
		boot = []string{"--bootstrap", h0.Addrs[0]}
	}
	for i := 1; i < o.Daemons; i++ {
		p, h, err := start(fmt.Sprintf("d%d", i), append([]string{"--tickets", strings.Join(h0.Tickets, ",")}, boot...)...)
		if err != nil {
			return nil, err
		}
		peers = append(peers, p)
		hellos = append(hellos, h)
	}
	var all []string
	for _, h := range hellos {
		all = append(all, h.Addrs[0])
	}
	for _, p := range peers {
		fmt.Fprintf(p.stdin, "connect %s\n", strings.Join(all, " "))
	}
	for _, p := range peers {
		var s struct{ Synced bool }
		if err := p.next(ctx, &s); err != nil || !s.Synced {
			return nil, fmt.Errorf("bench: %s did not sync: %v", p.name, err)
		}
	}
	measured := peers
	if o.Alone {
		alone, _, err := start("alone", "--create", spaces, "--mdns=false", "--dht", "off")
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(alone.stdin, "connect")
		var s struct{ Synced bool }
		if err := alone.next(ctx, &s); err != nil {
			return nil, err
		}
		measured = append(measured, alone)
	}
	select { // settling after the sync is part of the method, not synchronization
	case <-time.After(o.Settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, p := range measured {
		fmt.Fprintf(p.stdin, "measure %g\n", o.Window.Seconds())
	}
	var res []IdleResult
	for _, p := range measured {
		r := IdleResult{Name: p.name}
		if err := p.next(ctx, &r); err != nil {
			return nil, err
		}
		res = append(res, r)
	}
	return res, nil
}
