package node

import (
	"context"
	"fmt"
	"testing"

	"github.com/loamdb/loam/internal/commit"
)

// BenchmarkRedecide measures a revocation in spaces of growing history: a
// revocation (like a join through an invite or a fork) decides the space's
// authorization again from every commit held, on the store's applier
// goroutine, so writes wait meanwhile. Run it with:
//
//	go test -run='^$' -bench=Redecide -benchtime=3x ./internal/node
func BenchmarkRedecide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("commits=%d", n), func(b *testing.B) {
			a, err := Open(ctx, Options{Home: b.TempDir(), NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			sp, err := a.NewSpace(ctx, "club", SpaceOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "k%06d", i%1000), []byte("a chat message"))}); err != nil {
					b.Fatal(err)
				}
			}
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
