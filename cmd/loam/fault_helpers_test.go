package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/store"
)

// Helpers of the fault suite's daemon tests (docs/reliability.md).

// faultSeed returns the seed of a fault test: the number in environment
// variable env, else a random one; it logs it, and again if the test
// fails, with how to replay it.
func faultSeed(t *testing.T, env string) uint64 {
	t.Helper()
	seed := uint64(rand.Uint32())
	if s := os.Getenv(env); s != "" {
		v, err := strconv.ParseUint(s, 10, 62)
		if err != nil {
			t.Fatalf("%s=%q: want a number", env, s)
		}
		seed = v
	}
	t.Logf("seed %d (replay: %s=%d)", seed, env, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with seed %d: replay with %s=%d", seed, env, seed)
		}
	})
	return seed
}

// snapshot is a replica's keys and values, read once through its API:
// the checker then reads a map instead of making a request per key.
type snapshot struct {
	name string
	kv   map[string]string
}

// takeSnapshot lists every key of space sp through c.
func takeSnapshot(ctx context.Context, name string, c *api.Client, sp string) (snapshot, error) {
	s := snapshot{name: name, kv: map[string]string{}}
	for e, err := range c.Range(ctx, sp, store.Query{}) {
		if err != nil {
			return s, fmt.Errorf("%s: list %s: %w", name, sp, err)
		}
		k, err := e.KeyBytes()
		if err != nil {
			return s, err
		}
		v, err := e.ValueBytes()
		if err != nil {
			return s, err
		}
		s.kv[string(k)] = string(v)
	}
	return s, nil
}

func (s snapshot) Name() string { return s.name }

func (s snapshot) Get(_ context.Context, _, key string) (ackcheck.Entry, error) {
	v, ok := s.kv[key]
	return ackcheck.Entry{Found: ok, Value: v}, nil
}

// checkReplicas snapshots space sp on every client and runs the checker
// on them.
func checkReplicas(t *testing.T, check *ackcheck.Checker, sp string, clients map[string]*api.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rs []ackcheck.Replica
	for name, c := range clients {
		s, err := takeSnapshot(ctx, name, c, sp)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, s)
	}
	if err := check.Check(ctx, rs...); err != nil {
		t.Error(err)
	}
}

// apiWriter puts keys through a daemon's API, one at a time, recording
// each put in the checker: acknowledged when the API answered success,
// in doubt otherwise. Half its keys are its own, half are shared with the
// other writers.
type apiWriter struct {
	name   string
	sp     string
	client func() *api.Client // the daemon's current client (it changes on restart)
	check  *ackcheck.Checker
	shared int // shared keys: shared/00 … shared/<shared-1>
	r      *rand.Rand
	limit  uint64 // writes to make; 0: until stopped
	size   int    // pad values to this many bytes

	order   uint64       // writes made
	acked   atomic.Int64 // of which acknowledged
	lastErr error        // the last failure, for the test's log
}

// Acked returns how many writes were acknowledged so far.
func (w *apiWriter) Acked() int64 { return w.acked.Load() }

// put makes one write and says whether it was acknowledged.
func (w *apiWriter) put(ctx context.Context) bool {
	w.order++
	key := fmt.Sprintf("own/%s/%05d", w.name, w.order)
	if w.r.IntN(2) == 0 {
		key = fmt.Sprintf("shared/%02d", w.r.IntN(w.shared))
	}
	rec := ackcheck.Write{Space: w.sp, Key: key, Value: w.check.Unique(w.name), Writer: w.name, Order: w.order}
	if pad := w.size - len(rec.Value); pad > 0 {
		rec.Value += " " + strings.Repeat("v", pad-1)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := w.client().Put(ctx, w.sp, []byte(key), []byte(rec.Value)); err != nil {
		w.check.InDoubt(rec)
		w.lastErr = err
		return false
	}
	w.check.Acked(rec)
	w.acked.Add(1)
	return true
}

// runWriters runs the writers until stop is closed (never, if nil) or
// each has made its limit of writes, each writing at most once every
// pause, and returns once all have stopped.
func runWriters(stop <-chan struct{}, pause time.Duration, ws ...*apiWriter) {
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for w.limit == 0 || w.order < w.limit {
				select {
				case <-stop:
					return
				default:
				}
				if !w.put(context.Background()) {
					// The daemon is down or cut off: knock again soon.
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				select {
				case <-stop:
					return
				case <-time.After(pause):
				}
			}
		})
	}
	wg.Wait()
}

// convergedStatus says whether every client shows the same view hash and
// commits for space sp, and what each shows.
func convergedStatus(ctx context.Context, sp string, clients map[string]*api.Client) (bool, string) {
	var ref *api.SpaceStatus
	same := true
	var b strings.Builder
	for name, c := range clients {
		st, err := c.Status(ctx)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v; ", name, err)
			same = false
			continue
		}
		var s *api.SpaceStatus
		for i := range st.Spaces {
			if st.Spaces[i].ID == sp || st.Spaces[i].Name == sp {
				s = &st.Spaces[i]
			}
		}
		if s == nil {
			fmt.Fprintf(&b, "%s: no space %s; ", name, sp)
			same = false
			continue
		}
		fmt.Fprintf(&b, "%s: %d commits, %d keys, view %.8s, %d peers; ", name, s.Commits, s.Keys, s.ViewHash, st.Peers)
		if ref == nil {
			ref = s
		} else if s.ViewHash != ref.ViewHash || s.Commits != ref.Commits {
			same = false
		}
	}
	return same, b.String()
}

// waitConverged waits up to d for every client to show the same view
// hash and commits for space sp, and returns how long it took; it fails
// the test if they do not.
func waitConverged(t *testing.T, d time.Duration, sp string, clients map[string]*api.Client) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		same, state := convergedStatus(ctx, sp, clients)
		cancel()
		if same {
			return time.Since(start)
		}
		last = state
		if time.Since(start) > d {
			t.Fatalf("not converged within %v: %s", d, last)
		}
		time.Sleep(100 * time.Millisecond) // re-check interval, not synchronization
	}
}

// rssOf returns the resident set size of process pid in bytes
// (/proc/PID/status, VmRSS).
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
