package node

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// BenchmarkRedecide measures, in spaces of growing history, a revocation
// and a join through an invite with uses to spare, and the worst wait of
// a writer committing all along the revocations (ms-write-stall). A
// revocation whose cuts void only data commits is decided from the cut
// (store/redecide.go); a fork, a join that uses up its invite, or another
// revocation decides the space's authorization again from every commit
// held, on the store's applier goroutine, so writes wait meanwhile; a join
// with uses to spare only adds its grant. Run it with (the million takes
// minutes to write):
//
//	go test -run='^$' -bench='Redecide/revoke/commits=(10000|50000|1000000)$' -benchtime=3x ./internal/node
func BenchmarkRedecide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 10_000, 50_000, 1_000_000} {
		b.Run(fmt.Sprintf("join/commits=%d", n), func(b *testing.B) {
			a, sp := benchSpace(b, n)
			defer a.Close()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite})
				if err != nil {
					b.Fatal(err)
				}
				heads, err := a.st.Heads(ctx, sp.ID())
				if err != nil {
					b.Fatal(err)
				}
				var deps []keys.CommitID
				for _, h := range heads {
					if h.Author != a.Author() {
						deps = append(deps, h.ID)
					}
				}
				joiner := keys.DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8), 0xee})
				last := heads[len(heads)-1]
				for _, h := range heads {
					if h.Author == a.Author() {
						last = h
					}
				}
				deps = append(deps, last.ID)
				slices.SortFunc(deps, func(x, y keys.CommitID) int { return bytes.Compare(x[:], y[:]) })
				c, err := commit.Build(commit.Header{Space: sp.ID(), Author: joiner.Author(), Seq: 1,
					Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}, Deps: deps},
					[]commit.Op{commit.GrantOp(commit.InviteGrant(sp.ID(), joiner.Author(), commit.RoleWrite, tk.Invite))}, joiner)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := a.st.Apply(ctx, sp.ID(), []*commit.Commit{c})
				if err != nil || res.Outcomes[0].Status != store.Applied {
					b.Fatalf("join: %+v, %v", res.Outcomes, err)
				}
			}
		})
		b.Run(fmt.Sprintf("revoke/commits=%d", n), func(b *testing.B) {
			a, sp := benchSpace(b, n)
			defer a.Close()
			// A writer commits all along; its worst wait from submit to
			// commit among the writes that overlap a revocation is the
			// stall.
			stop := make(chan struct{})
			spans := make(chan []span)
			go func() {
				var ws []span
				defer func() { spans <- ws }()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					t := time.Now()
					if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "w%06d", i%1000), []byte("a message meanwhile"))}); err != nil {
						b.Error(err)
						return
					}
					ws = append(ws, span{t, time.Now()})
				}
			}()
			var revs []span
			for b.Loop() {
				b.StopTimer()
				tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t := time.Now()
				// The revocation's commit, as Revoke makes it in a public
				// space (Revoke first lists the members: see revoke-call).
				if _, err := sp.Commit(ctx, []commit.Op{commit.RevokeOp(commit.Revoke{Author: tk.Invite.Author()})}); err != nil {
					b.Fatal(err)
				}
				revs = append(revs, span{t, time.Now()})
			}
			close(stop)
			var stall time.Duration
			for _, w := range <-spans {
				for _, r := range revs {
					if w.from.Before(r.to) && r.from.Before(w.to) {
						stall = max(stall, w.to.Sub(w.from))
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/commit-held")
			b.ReportMetric(float64(stall.Microseconds())/1000, "ms-write-stall")
		})
		if n > 50_000 {
			continue
		}
		b.Run(fmt.Sprintf("revoke-call/commits=%d", n), func(b *testing.B) {
			a, _ := benchSpace(b, n)
			defer a.Close()
			for b.Loop() {
				b.StopTimer()
				tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := a.Revoke(ctx, "club", tk.String()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/commit-held")
		})
	}
}

// span is when something ran.
type span struct{ from, to time.Time }

// benchSpace opens a node with a space "club" of n one-put commits.
func benchSpace(b *testing.B, n int) (*Node, *space.Space) {
	ctx := context.Background()
	a, err := Open(ctx, Options{Home: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	sp, err := a.NewSpace(ctx, "club", SpaceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "k%06d", i%1000), []byte("a chat message"))}); err != nil {
			b.Fatal(err)
		}
	}
	return a, sp
}
