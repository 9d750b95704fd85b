package store_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

var benchPerAuthor = flag.Int("vv.per", 0, "BenchmarkManyAuthors: commits per author (0: 20,000 commits in all, at most 1,000 per author)")

// chat is a generated history of many authors writing single-op commits
// as concurrent writers do: a few are active at a time (the active set
// changes as the history goes on), each receives the others' commits in
// the order they were made but a few commits late, and each commit
// depends on the heads it received since its author's previous commit
// (what internal/space puts in Deps).
type chat struct {
	space   keys.SpaceID
	genesis *commit.Commit
	commits []*commit.Commit // a causal order, genesis excluded
}

type chatAuthor struct {
	key  keys.DeviceKey
	seq  uint64
	head keys.CommitID
	last commit.HLC // own last time, or the latest time received
	seen int        // commits of the history received (a prefix)
	left int        // commits still to write
}

// genChat generates n authors' history of per commits each: active
// writers at a time, each commit received up to lag commits late. With
// sparse set, a commit depends on one or two of the heads received
// instead of all: the rest is in its past only through them, if at all.
func genChat(r *rand.Rand, n, per, active, lag int, sparse bool) *chat {
	seed := func() (s [32]byte) {
		for i := range s {
			s[i] = byte(r.UintN(256))
		}
		return
	}
	sk := keys.SpaceKeyFromSeed(seed())
	h := &chat{space: sk.Space()}
	base := uint64(time.Now().Add(-time.Hour).UnixMicro())
	as := make([]*chatAuthor, n)
	grants := make([]commit.Op, n)
	for i := range as {
		as[i] = &chatAuthor{key: keys.DeviceKeyFromSeed(seed()), left: per}
		role := commit.RoleWrite
		if i == 0 {
			role = commit.RoleAdmin
		}
		grants[i] = commit.GrantOp(commit.Grant{Subject: as[i].key.Author(), Role: role})
	}
	h.genesis = benchMust(commit.Build(commit.Header{Space: h.space, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: base}}, grants, sk))
	all := []*commit.Commit{h.genesis}
	phys := base
	idle := r.Perm(n)
	on := []int{}
	for len(on) < active && len(idle) > 0 {
		on, idle = append(on, idle[0]), idle[1:]
	}
	for len(on) > 0 {
		phys += uint64(r.IntN(3)) * 1000
		i := r.IntN(len(on))
		a := as[on[i]]
		// Receive the commits made so far but the last few.
		upto := max(a.seen, 1, len(all)-r.IntN(lag+1)) // the genesis at least
		latest := map[keys.AuthorID]*commit.Commit{}
		for _, c := range all[a.seen:upto] {
			if c.Author != a.key.Author() {
				latest[c.Author] = c
			}
			if a.last.Less(c.Time) {
				a.last = c.Time
			}
		}
		a.seen = upto
		deps := make([]keys.CommitID, 0, len(latest))
		for _, c := range latest {
			deps = append(deps, c.ID)
		}
		if sparse && len(deps) > 1 {
			r.Shuffle(len(deps), func(i, j int) { deps[i], deps[j] = deps[j], deps[i] })
			deps = deps[:1+r.IntN(2)]
		}
		t := commit.HLC{Wall: phys}
		if !a.last.Less(t) {
			t = commit.HLC{Wall: a.last.Wall, Logical: a.last.Logical + 1}
		}
		key := fmt.Appendf(nil, "k/%04d", r.IntN(1000))
		op := commit.Put(key, fmt.Appendf(nil, "%020d", r.Uint64()%1e18))
		if r.IntN(5) == 0 {
			op = commit.Del(key)
		}
		c := benchMust(commit.Build(commit.Header{Space: h.space, Author: a.key.Author(), Seq: a.seq + 1, Prev: a.head, Time: t, Deps: deps}, []commit.Op{op}, a.key))
		a.seq, a.head, a.last = c.Seq, c.ID, t
		a.left--
		all = append(all, c)
		// The active set changes now and then, and when a writer is done.
		if a.left == 0 || (r.IntN(50) == 0 && len(idle) > 0) {
			if a.left > 0 {
				idle = append(idle, on[i])
			}
			on = append(on[:i], on[i+1:]...)
			for len(idle) > 0 {
				j := r.IntN(len(idle))
				next := idle[j]
				idle = append(idle[:j], idle[j+1:]...)
				if as[next].left > 0 {
					on = append(on, next)
					break
				}
			}
		}
	}
	h.commits = all[1:]
	return h
}

// cpuTime returns the CPU time the process has used: on a machine shared
// with other work, commits per CPU second say what the store costs when
// commits per second say what it got.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func benchMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkManyAuthors applies a space written by many authors (genChat:
// 10 active at a time, commits received up to 4 late) with Store.Apply in
// causal order, in batches of 500, into a new store (NoSync), and reports
// commits/s and the bytes the space's rows take per commit once
// compacted. -vv.per sets the commits per author. commits/cpu-s counts the
// process's CPU time while applying (the applier, Pebble's flushes and
// compactions).
func BenchmarkManyAuthors(b *testing.B) {
	for _, n := range []int{10, 100, 400, 1000} {
		per := *benchPerAuthor
		if per == 0 {
			per = min(1000, 20000/n)
		}
		b.Run(fmt.Sprintf("authors=%d/per=%d", n, per), func(b *testing.B) {
			h := genChat(rand.New(rand.NewPCG(uint64(n), uint64(per))), n, per, 10, 4, false)
			deps := 0
			for _, c := range h.commits {
				deps += len(c.Deps)
			}
			ctx := context.Background()
			var perCommit float64
			var cpu time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := st.CreateSpace(ctx, "chat", h.genesis); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0 := cpuTime()
				for i := 0; i < len(h.commits); i += 500 {
					part := h.commits[i:min(i+500, len(h.commits))]
					res, err := st.Apply(ctx, h.space, part)
					if err != nil {
						b.Fatal(err)
					}
					for j, o := range res.Outcomes {
						if o.Status != store.Applied {
							b.Fatalf("commit %s: %s: %v", part[j], o.Status, o.Err)
						}
					}
				}
				cpu += cpuTime() - cpu0
				b.StopTimer()
				if err := st.Compact(ctx, &h.space, nil); err != nil {
					b.Fatal(err)
				}
				u, err := st.SpaceUsage(ctx, h.space)
				if err != nil {
					b.Fatal(err)
				}
				perCommit = float64(u.History+u.Live) / float64(len(h.commits)+1)
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*len(h.commits))/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(b.N*len(h.commits))/cpu.Seconds(), "commits/cpu-s")
			b.ReportMetric(perCommit, "bytes/commit")
			b.ReportMetric(float64(deps)/float64(len(h.commits)), "deps/commit")
			b.ReportMetric(0, "ns/op")
		})
	}
}
