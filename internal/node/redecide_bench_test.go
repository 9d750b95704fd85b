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
				tk := benchInvite(b, a)
				joiner := keys.DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8), 0xee})
				c := joinCommit(b, a, sp, tk, joiner)
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
				tk := benchInvite(b, a)
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
		b.Run(fmt.Sprintf("revoke-voiding/commits=%d", n), func(b *testing.B) {
			// A member wrote voided commits past the cut (the admin cuts
			// it right after its join): each leaves the view.
			const voided = 1_000
			a, sp := benchSpace(b, n)
			defer a.Close()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				tk := benchInvite(b, a)
				m := keys.DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8), 0xdd})
				prev := joinCommit(b, a, sp, tk, m)
				cs := []*commit.Commit{prev}
				for s := uint64(2); s <= voided+1; s++ {
					c, err := commit.Build(commit.Header{Space: sp.ID(), Author: m.Author(), Seq: s, Prev: prev.ID,
						Time: commit.HLC{Wall: prev.Time.Wall + 1}},
						[]commit.Op{commit.Put(fmt.Appendf(nil, "m/%d/%06d", i, s), []byte("a message of the revoked"))}, m)
					if err != nil {
						b.Fatal(err)
					}
					cs, prev = append(cs, c), c
				}
				for len(cs) > 0 {
					k := min(len(cs), 500)
					res, err := a.st.Apply(ctx, sp.ID(), cs[:k])
					if err != nil || res.Outcomes[k-1].Status != store.Applied {
						b.Fatalf("member's commits: %+v, %v", res.Outcomes[k-1], err)
					}
					cs = cs[k:]
				}
				b.StartTimer()
				if _, err := sp.Commit(ctx, []commit.Op{commit.RevokeOp(commit.Revoke{Author: m.Author(), LastSeq: 1})}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if e, err := a.st.Get(ctx, sp.ID(), fmt.Appendf(nil, "m/%d/%06d", i, 2)); err == nil && e.Visible() {
					b.Fatal("a voided write is still in the view")
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/voided, "µs/voided-commit")
		})
		if n > 50_000 {
			continue
		}
		b.Run(fmt.Sprintf("revoke-call/commits=%d", n), func(b *testing.B) {
			a, _ := benchSpace(b, n)
			defer a.Close()
			for b.Loop() {
				b.StopTimer()
				tk := benchInvite(b, a)
				b.StartTimer()
				if _, err := a.Revoke(ctx, "club", tk.String()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/commit-held")
		})
	}
}

// benchInvite makes an invite to a's space "club" for a writer.
func benchInvite(b *testing.B, a *Node) keys.Ticket {
	tk, err := a.NewInvite(context.Background(), "club", InviteOptions{Role: commit.RoleWrite})
	if err != nil {
		b.Fatal(err)
	}
	return tk
}

// joinCommit builds joiner's join through invite tk, depending on every
// head of sp.
func joinCommit(b *testing.B, a *Node, sp *space.Space, tk keys.Ticket, joiner keys.DeviceKey) *commit.Commit {
	heads, err := a.st.Heads(context.Background(), sp.ID())
	if err != nil {
		b.Fatal(err)
	}
	deps := make([]keys.CommitID, 0, len(heads))
	for _, h := range heads {
		deps = append(deps, h.ID)
	}
	slices.SortFunc(deps, func(x, y keys.CommitID) int { return bytes.Compare(x[:], y[:]) })
	c, err := commit.Build(commit.Header{Space: sp.ID(), Author: joiner.Author(), Seq: 1,
		Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}, Deps: deps},
		[]commit.Op{commit.GrantOp(commit.InviteGrant(sp.ID(), joiner.Author(), commit.RoleWrite, tk.Invite))}, joiner)
	if err != nil {
		b.Fatal(err)
	}
	return c
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
