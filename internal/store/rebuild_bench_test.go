package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

// BenchmarkRebuild measures the whole path of a re-decision (rebuild.go:
// acl.Evaluate over every commit, then the view replayed), which the
// store's fullRedecide switch forces for every revocation. The space holds
// an admin's n one-put commits (keys k0000000 to k0099999, in turn) and a
// member's ten; each revocation cuts the member one commit lower, so the
// decision changes and the view is rebuilt. It reports, besides the time
// of a revocation, the Go heap's peak while deciding (MB-heap-peak:
// runtime/metrics, sampled every millisecond) and the process's peak RSS
// while deciding (MB-rss-peak: VmHWM, reset once the space is written).
// Run it with:
//
//	go test -run='^$' -bench='Rebuild/commits=(50000|1000000)$' -benchtime=3x ./internal/store
func BenchmarkRebuild(b *testing.B) {
	for _, n := range []int{10_000, 50_000, 1_000_000} {
		b.Run(fmt.Sprintf("commits=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st, sp, admin, member, prev := rebuildSpace(b, n)
			defer st.Close()
			store.SetFullRedecide(st, true)
			resetPeakRSS(b)
			peak := sampleHeap()
			cpu0 := testkit.CPUTime()
			for i := 0; b.Loop(); i++ {
				if i >= 9 {
					b.Fatal("at most 9 revocations: the member has 10 commits")
				}
				c, err := commit.Build(commit.Header{Space: sp, Author: admin.Author(), Seq: prev.Seq + 1, Prev: prev.ID, Time: commit.HLC{Wall: prev.Time.Wall + 1}},
					[]commit.Op{commit.RevokeOp(commit.Revoke{Author: member.Author(), LastSeq: uint64(9 - i)})}, admin)
				if err != nil {
					b.Fatal(err)
				}
				res, err := st.Apply(ctx, sp, []*commit.Commit{c})
				if err != nil || res.Outcomes[0].Status != store.Applied {
					b.Fatalf("revocation: %+v, %v", res.Outcomes, err)
				}
				if len(res.Changes) == 0 {
					b.Fatal("the revocation changed nothing in the view")
				}
				prev = c
			}
			cpu := testkit.CPUTime() - cpu0
			b.ReportMetric(float64(peak()>>20), "MB-heap-peak")
			b.ReportMetric(float64(peakRSS(b)>>10), "MB-rss-peak")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// rebuildSpace writes the space of BenchmarkRebuild into a new store:
// the genesis grants admin and member, the member writes ten commits,
// the admin n. It returns the admin's last commit.
func rebuildSpace(b *testing.B, n int) (*store.Store, keys.SpaceID, keys.DeviceKey, keys.DeviceKey, *commit.Commit) {
	ctx := context.Background()
	sk := keys.SpaceKeyFromSeed([32]byte{1})
	admin, member := keys.DeviceKeyFromSeed([32]byte{2}), keys.DeviceKeyFromSeed([32]byte{3})
	sp := sk.Space()
	base := uint64(time.Now().Add(-time.Hour).UnixMicro())
	must := func(c *commit.Commit, err error) *commit.Commit {
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	genesis := must(commit.Build(commit.Header{Space: sp, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: base}}, []commit.Op{
		commit.GrantOp(commit.Grant{Subject: admin.Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: member.Author(), Role: commit.RoleWrite}),
	}, sk))
	st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateSpace(ctx, "bench", genesis); err != nil {
		b.Fatal(err)
	}
	apply := func(cs []*commit.Commit) {
		res, err := st.Apply(ctx, sp, cs)
		if err != nil {
			b.Fatal(err)
		}
		for j, o := range res.Outcomes {
			if o.Status != store.Applied {
				b.Fatalf("commit %s: %s: %v", cs[j], o.Status, o.Err)
			}
		}
	}
	var cs []*commit.Commit
	mprev := genesis
	for s := uint64(1); s <= 10; s++ {
		h := commit.Header{Space: sp, Author: member.Author(), Seq: s, Time: commit.HLC{Wall: base + s}}
		if s == 1 {
			h.Deps = []keys.CommitID{genesis.ID}
		} else {
			h.Prev = mprev.ID
		}
		mprev = must(commit.Build(h, []commit.Op{commit.Put(fmt.Appendf(nil, "m%02d", s), []byte("a member's message"))}, member))
		cs = append(cs, mprev)
	}
	apply(cs)
	var prev *commit.Commit
	cs = cs[:0]
	for i := range n {
		h := commit.Header{Space: sp, Author: admin.Author(), Seq: uint64(i + 1), Time: commit.HLC{Wall: base + 100 + uint64(i)}}
		if i == 0 {
			h.Deps = []keys.CommitID{genesis.ID}
		} else {
			h.Prev = prev.ID
		}
		prev = must(commit.Build(h, []commit.Op{commit.Put(fmt.Appendf(nil, "k%07d", i%100_000), []byte("a chat message"))}, admin))
		if cs = append(cs, prev); len(cs) == 500 {
			apply(cs)
			cs = cs[:0]
		}
	}
	if len(cs) > 0 {
		apply(cs)
	}
	return st, sp, admin, member, prev
}

// sampleHeap samples the Go heap's live objects every millisecond until
// the returned func is called, which returns the highest seen.
func sampleHeap() func() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var top uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			top = max(top, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() uint64 {
		once.Do(func() { close(stop); <-done })
		return top
	}
}

// resetPeakRSS resets the process's peak RSS (VmHWM) to its RSS now.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS not reset: %v", err)
	}
}

// peakRSS returns the process's peak RSS in KiB (VmHWM).
func peakRSS(b *testing.B) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
