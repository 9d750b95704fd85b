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
// and a join through an invite with uses to spare. A revocation (or a
// fork, or a join that uses up its invite) decides the space's
// authorization again from every commit held, on the store's applier
// goroutine, so writes wait meanwhile; such a join only adds its grant.
// Run it with:
//
//	go test -run='^$' -bench=Redecide -benchtime=3x ./internal/node
func BenchmarkRedecide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 10_000, 50_000} {
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
