package loam_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/loamdb/loam"
)

// TestSmallStoreDisk: a store holding 10 MB of values (100,000 of 100
// bytes) allocates at most 4x that plus 8 MiB, besides the fixed reserve
// file (at most 64 MiB), embedded and through the daemon; DiskUsage and
// Compact report it, and Compact its progress to the end. The bound: each value is stored twice, in its commit
// and in the view's cell, with about 40% of keys and headers (2.4x after
// compaction, BenchmarkDiskUsage), and the write-ahead logs hold at most
// the rows not yet flushed, allocated 1 MiB ahead. Before issue 14 the
// same store allocated 590 MB of logs (each preallocated to 70 MiB).
func TestSmallStoreDisk(t *testing.T) {
	for _, via := range vias {
		t.Run(via, func(t *testing.T) {
			ctx := ctxT(t)
			n := openVia(t, via, true)
			sp, err := n.CreateSpace(ctx, "small", loam.Public)
			if err != nil {
				t.Fatal(err)
			}
			const keys = 100_000
			payload := writeValues(t, ctx, sp, keys)
			const reserveMax = 64<<20 + 4096
			bound := 4*payload + 8<<20
			a := du(t, n.Home())
			if a.reserve > reserveMax || a.total-a.reserve > bound {
				t.Fatalf("%d bytes of values: %s; want at most %d besides a reserve of at most %d", payload, a, bound, reserveMax)
			}
			u, err := n.DiskUsage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(u.Spaces) != 1 || u.Spaces[0].Name != "small" || u.Reserve != a.reserve && a.reserve != 0 {
				t.Fatalf("DiskUsage %+v, du %s", u, a)
			}
			var done, total int
			before, after, err := n.Compact(ctx, "small", func(d, tot int) { done, total = d, tot })
			if err != nil {
				t.Fatal(err)
			}
			if total == 0 || done != total {
				t.Fatalf("last progress: %d of %d", done, total)
			}
			if before.Spaces[0].ID != sp.ID() {
				t.Fatalf("before: %+v", before)
			}
			s := after.Spaces[0]
			if after.Unflushed != 0 || s.Live < payload || s.History < payload || s.Live+s.History > 3*payload || s.Blobs != 0 {
				t.Fatalf("after compaction: %+v, space %+v, %d bytes of values", after, s, payload)
			}
			if a := du(t, n.Home()); a.total-a.reserve > bound {
				t.Fatalf("after compaction: %s; want at most %d besides the reserve", a, bound)
			}
		})
	}
}

// writeValues writes keys random values of 100 bytes to sp, in commits of
// 1,000, and returns the bytes of values written.
func writeValues(t testing.TB, ctx context.Context, sp *loam.Space, keys int) int64 {
	t.Helper()
	var payload int64
	for c := 0; c < keys; c += 1000 {
		bt := sp.Batch()
		for i := c; i < c+1000 && i < keys; i++ {
			val := make([]byte, 100)
			fillRandom(val, uint64(i))
			bt.Put(fmt.Appendf(nil, "key/%08d", i), val)
			payload += int64(len(val))
		}
		if err := bt.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return payload
}

// TestSpaceBlobBytes: a space's blob bytes are those of the blobs its keys
// reference; a blob two spaces reference counts in full in each, and once
// in the node's total; a blob no longer referenced counts in no space.
func TestSpaceBlobBytes(t *testing.T) {
	eachVia(t, func(t *testing.T, n *loam.Node) {
		ctx := ctxT(t)
		const size = 3<<20 + 5
		data := make([]byte, size)
		fillRandom(data, 7)
		spaces := map[string]*loam.Space{}
		for _, name := range []string{"a", "b"} {
			sp, err := n.CreateSpace(ctx, name, loam.Public)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sp.PutBlob(ctx, []byte("photo"), bytes.NewReader(data), "image/png"); err != nil {
				t.Fatal(err)
			}
			spaces[name] = sp
		}
		check := func(wantA, wantB int64) {
			t.Helper()
			u, err := n.DiskUsage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, s := range u.Spaces {
				got[s.Name] = s.Blobs
			}
			if got["a"] != wantA || got["b"] != wantB || u.Blobs < size || u.Blobs > size+64<<10 {
				t.Fatalf("blob bytes: spaces %v, node %d; want a %d, b %d, node %d", got, u.Blobs, wantA, wantB, size)
			}
		}
		check(size, size)
		if err := spaces["b"].Delete(ctx, []byte("photo")); err != nil {
			t.Fatal(err)
		}
		check(size, 0)
	})
}
