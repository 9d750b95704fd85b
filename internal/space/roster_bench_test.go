package space_test

import (
	"context"
	"flag"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

var rosterCommits = flag.Int("roster.commits", 100_000, "BenchmarkRoster: the space's data commits")

// BenchmarkRoster lists the members of a chat space of roster.commits
// single-op data commits by 8 members (storetest.GenChat), then a grant
// to a ninth and the revocation of one, by the space key: Roster, from
// the store's rows and control commits (from-rows), and rosterEvaluate,
// which decides every commit again (evaluate: the Roster of before #16's
// change, unchanged), in one run. peak-MiB is the heap's growth during one
// call (sampled every 100 µs after a GC: a call shorter than that may show
// 0), cpu-ms/op the process's CPU time (user and system, every goroutine)
// per call.
//
//	go test -run '^$' -bench Roster -benchtime 20x ./internal/space
func BenchmarkRoster(b *testing.B) {
	ctx := context.Background()
	st, sp := rosterSpace(b, *rosterCommits)
	for _, c := range []struct {
		name   string
		roster func(context.Context, *store.Store, keys.SpaceID) ([]space.Member, []space.Person, error)
	}{{"from-rows", space.Roster}, {"evaluate", space.RosterEvaluate}} {
		b.Run(c.name, func(b *testing.B) {
			var ms []space.Member
			peak := peakHeap(func() {
				var err error
				if ms, _, err = c.roster(ctx, st, sp); err != nil {
					b.Fatal(err)
				}
			})
			if len(ms) != 9 { // the 8 writers (one revoked) and the ninth
				b.Fatalf("%d members, want 9", len(ms))
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, _, err := c.roster(ctx, st, sp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}

// rosterSpace stores BenchmarkRoster's space.
func rosterSpace(b *testing.B, n int) (*store.Store, keys.SpaceID) {
	ctx := context.Background()
	h := storetest.GenChat(rand.New(rand.NewPCG(1, 2)), 8, n/8, 4, 4, false)
	sp := h.Space()
	st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.CreateSpace(ctx, "chat", h.Genesis); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(h.Commits); i += 1000 {
		if _, err := st.Apply(ctx, sp, h.Commits[i:min(i+1000, len(h.Commits))]); err != nil {
			b.Fatal(err)
		}
	}
	heads, err := st.Heads(ctx, sp)
	if err != nil {
		b.Fatal(err)
	}
	hd := commit.Header{Space: sp, Author: h.SpaceKey.Author(), Seq: 2, Prev: h.Genesis.ID, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}}
	var revoke commit.Revoke
	for _, x := range heads {
		if x.Author != hd.Author {
			hd.Deps = append(hd.Deps, x.ID)
			revoke = commit.Revoke{Author: x.Author, LastSeq: x.Seq}
		}
	}
	ninth := keys.DeviceKeyFromSeed([32]byte{9})
	c, err := commit.Build(hd, []commit.Op{commit.GrantOp(commit.Grant{Subject: ninth.Author(), Role: commit.RoleWrite}), commit.RevokeOp(revoke)}, h.SpaceKey)
	if err != nil {
		b.Fatal(err)
	}
	res, err := st.Apply(ctx, sp, []*commit.Commit{c})
	if err != nil || res.Outcomes[0].Status != store.Applied {
		b.Fatalf("the control commit: %v %+v", err, res.Outcomes)
	}
	h = nil
	runtime.GC()
	return st, sp
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakHeap returns how far the heap's live objects grew while fn ran
// (sampled every 100 µs), after a GC.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var top uint64
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			top = max(top, s[0].Value.Uint64())
			select {
			case <-done:
				peak <- top
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	p := <-peak
	if p < base {
		return 0
	}
	return p - base
}
