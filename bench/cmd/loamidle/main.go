// Command loamidle is one daemon of the idle benchmark (bench.RunLoamIdle):
// a node that creates or joins spaces, connects to the peers it is told
// of, waits until its spaces are in sync, then measures what it costs
// while nothing happens: CPU time, context switches, goroutine wake-ups
// (the scheduler's count and, from an execution trace of the window, the
// wake-ups by where each goroutine was waiting).
//
//	loamidle --home DIR --create 2            creates spaces, prints tickets
//	loamidle --home DIR --tickets T1,T2       joins them
//
// It prints one JSON line per step and reads commands from stdin:
//
//	connect ADDR...   dial these peers, wait until every space is in sync
//	                  with all of them; prints {"synced":…}
//	measure SECONDS   measure an idle window; prints the figures
//
// and closes the node when stdin closes.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	xtrace "golang.org/x/exp/trace"

	"github.com/loamdb/loam/bench"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
)

func main() {
	fs := flag.NewFlagSet("loamidle", flag.ExitOnError)
	home := fs.String("home", "", "data directory")
	create := fs.Int("create", 0, "spaces to create (and print tickets for)")
	tickets := fs.String("tickets", "", "comma-separated tickets to join")
	mdns := fs.Bool("mdns", true, "find peers on the LAN with mDNS (as 'loam daemon')")
	dhtName := fs.String("dht", "private", "DHT: off, private (with --bootstrap) or amino")
	bootstrap := fs.String("bootstrap", "", "comma-separated bootstrap multiaddrs")
	top := fs.Int("top", 25, "wake-up sources to print")
	fs.Parse(os.Args[1:])
	if err := run(*home, *create, *tickets, *mdns, *dhtName, *bootstrap, *top); err != nil {
		fmt.Fprintln(os.Stderr, "loamidle:", err)
		os.Exit(1)
	}
}

func run(home string, create int, tickets string, mdns bool, dhtName, bootstrap string, top int) error {
	ctx := context.Background()
	mode, err := p2p.ParseDHTMode(dhtName)
	if err != nil {
		return err
	}
	var boot []string
	if bootstrap != "" {
		boot = strings.Split(bootstrap, ",")
	}
	n, err := node.Open(ctx, node.Options{Home: home, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, MDNS: mdns, DHT: mode, Bootstrap: boot})
	if err != nil {
		return err
	}
	defer n.Close()
	var spaces []keys.SpaceID
	var out []string
	for i := range create {
		name := fmt.Sprintf("idle%d", i)
		sp, err := n.CreateSpace(ctx, name)
		if err != nil {
			return err
		}
		for j := range 100 {
			if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "k/%03d", j), []byte("a value that waits"))}); err != nil {
				return err
			}
		}
		t, err := n.Invite(ctx, name, commit.RoleWrite, 0)
		if err != nil {
			return err
		}
		spaces = append(spaces, sp.ID())
		out = append(out, t.String())
	}
	if tickets != "" {
		for _, s := range strings.Split(tickets, ",") {
			t, err := keys.ParseTicket(s)
			if err != nil {
				return err
			}
			jctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			sp, err := n.Join(jctx, t)
			cancel()
			if err != nil {
				return err
			}
			spaces = append(spaces, sp.ID())
		}
	}
	addrs := n.Addrs()
	for i, a := range addrs {
		if !strings.Contains(a, "/p2p/") {
			addrs[i] = a + "/p2p/" + n.PeerID()
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(map[string]any{"peer": n.PeerID(), "addrs": addrs, "tickets": out})

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "connect":
			want := 0
			for _, a := range f[1:] {
				if strings.HasSuffix(a, "/p2p/"+n.PeerID()) {
					continue
				}
				want++
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := n.Connect(cctx, a)
				cancel()
				if err != nil {
					return fmt.Errorf("connect %s: %w", a, err)
				}
			}
			if err := waitInSync(ctx, n, spaces, want); err != nil {
				return err
			}
			enc.Encode(map[string]any{"synced": true, "peers": len(n.Peers())})
		case "measure":
			secs, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return err
			}
			r, err := measure(n, time.Duration(secs*float64(time.Second)), top)
			if err != nil {
				return err
			}
			enc.Encode(r)
		default:
			return fmt.Errorf("unknown command %q", f[0])
		}
	}
	return nil
}

// waitInSync waits until every space is in sync with want peers. It is
// set-up before the measurement, so it samples every 50 ms.
func waitInSync(ctx context.Context, n *node.Node, spaces []keys.SpaceID, want int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		done := true
		for _, id := range spaces {
			_, in, err := n.SpaceSync(ctx, id)
			if err != nil {
				return err
			}
			if in < want {
				done = false
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("spaces not in sync with every peer after 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// measure measures an idle window of d without tracing (CPU, context
// switches, scheduling), then traces another window of d to attribute the
// wake-ups: the tracer's own goroutines are left out of the sources, but
// tracing costs CPU, so the first window's figures are the clean ones.
func measure(n *node.Node, d time.Duration, top int) (bench.IdleResult, error) {
	var tr bytes.Buffer
	ms0 := sample()
	cpu0, vol0, inv0, err := procStats()
	if err != nil {
		return bench.IdleResult{}, err
	}
	t0 := time.Now()
	time.Sleep(d) // the idle window itself
	el := time.Since(t0).Seconds()
	cpu1, vol1, inv1, err := procStats()
	if err != nil {
		return bench.IdleResult{}, err
	}
	ms1 := sample()
	r := bench.IdleResult{
		Seconds:        el,
		Peers:          len(n.Peers()),
		CPUPercent:     100 * (cpu1 - cpu0) / el,
		VolCtxPerSec:   float64(vol1-vol0) / el,
		InvolCtxPerSec: float64(inv1-inv0) / el,
		SchedPerSec:    8 * float64(ms1.sched-ms0.sched) / el,
		GCs:            ms1.gcs - ms0.gcs,
		Goroutines:     ms1.goroutines,
	}
	t1 := time.Now()
	if err := trace.Start(&tr); err != nil {
		return bench.IdleResult{}, err
	}
	time.Sleep(d)
	trace.Stop()
	el = time.Since(t1).Seconds()
	counts, total, err := wakeSources(&tr)
	if err != nil {
		return bench.IdleResult{}, err
	}
	r.TraceWakePerSec = float64(total) / el
	for w, c := range counts {
		r.Sources = append(r.Sources, bench.IdleSource{Where: w, Count: c, PerSec: float64(c) / el})
	}
	slices.SortFunc(r.Sources, func(a, b bench.IdleSource) int { return b.Count - a.Count })
	if len(r.Sources) > top {
		r.Sources = r.Sources[:top]
	}
	return r, nil
}

type metricsSample struct{ sched, gcs, goroutines uint64 }

func sample() metricsSample {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	var m metricsSample
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		for _, c := range s[0].Value.Float64Histogram().Counts {
			m.sched += c
		}
	}
	m.gcs = s[1].Value.Uint64()
	m.goroutines = s[2].Value.Uint64()
	return m
}

// procStats reads this process's CPU seconds (user+system, from
// /proc/self/stat) and context switches (from /proc/self/status).
func procStats() (cpu float64, vol, invol uint64, err error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14 and stime 15, in clock ticks (100 per second).
	rest := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(rest[11], 64)
	st, _ := strconv.ParseFloat(rest[12], 64)
	cpu = (ut + st) / 100
	// Context switches are counted per thread: sum them over all.
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		return 0, 0, 0, err
	}
	for _, t := range tasks {
		s, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just exited
		}
		for _, line := range strings.Split(string(s), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			x, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			switch k {
			case "voluntary_ctxt_switches":
				vol += x
			case "nonvoluntary_ctxt_switches":
				invol += x
			}
		}
	}
	return cpu, vol, invol, nil
}

// wakeSources counts, in an execution trace, the goroutines made
// runnable (woken from waiting, or created) by where they come from.
func wakeSources(r io.Reader) (map[string]int, int, error) {
	rd, err := xtrace.NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	blocked := map[xtrace.GoID]string{}    // where each waiting goroutine waits
	tracer := map[xtrace.GoID]bool{}       // the tracer's own goroutines
	seen := map[xtrace.GoID]xtrace.Stack{} // each goroutine's last stack seen
	counts := map[string]int{}
	total := 0
	for {
		ev, err := rd.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if g := ev.Goroutine(); g != xtrace.NoGoroutine && ev.Stack() != xtrace.NoStack {
			seen[g] = ev.Stack()
		}
		if ev.Kind() != xtrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != xtrace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		if tracer[id] {
			continue
		}
		if isTracer(st.Stack) {
			tracer[id] = true
			delete(blocked, id)
			continue
		}
		switch {
		case to == xtrace.GoWaiting:
			// Blocking now, or already blocked when the trace started
			// (from GoUndetermined, with the stack it waits at).
			stk := st.Stack
			if stk == xtrace.NoStack {
				stk = ev.Stack()
			}
			if stk == xtrace.NoStack {
				stk = seen[id]
			}
			blocked[id] = where(stk, st.Reason)
		case from == xtrace.GoNotExist && to == xtrace.GoRunnable:
			counts["new goroutine "+where(st.Stack, "")]++
			total++
		case from == xtrace.GoWaiting && to == xtrace.GoRunnable:
			w, ok := blocked[id]
			if !ok || strings.HasPrefix(w, "(no stack)") {
				// Where it waited is not known: name who woke it.
				w = fmt.Sprintf("woken by %s (%s)", where(ev.Stack(), ""), st.Reason)
			}
			counts[w]++
			total++
		}
	}
	return counts, total, nil
}

// plumbing says whether f is a frame of the runtime or of the standard
// library's waiting and scheduling, which says nothing of who waits.
func plumbing(f string) bool {
	for _, p := range []string{"runtime.", "runtime/", "internal/", "sync.", "sync/", "time.", "net.", "os.", "io.", "syscall.", "bufio."} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// isTracer says whether s is a stack of the execution tracer itself or of
// this command's measurement.
func isTracer(s xtrace.Stack) bool {
	for f := range s.Frames() {
		if strings.Contains(f.Func, "trace") && strings.HasPrefix(f.Func, "runtime") || strings.HasPrefix(f.Func, "main.") {
			return true
		}
	}
	return false
}

// where names a stack by its outermost frame (the goroutine's function)
// and its innermost frame that is not plumbing.
func where(s xtrace.Stack, reason string) string {
	var frames []string
	for f := range s.Frames() {
		frames = append(frames, f.Func)
	}
	if len(frames) == 0 {
		return "(no stack) " + reason
	}
	inner := ""
	for _, f := range frames {
		if !plumbing(f) {
			inner = f
			break
		}
	}
	outer := frames[len(frames)-1]
	if inner == "" {
		inner = frames[0]
	}
	if inner == outer {
		return inner
	}
	return outer + " > " + inner
}
