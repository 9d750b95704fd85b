package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/testkit"
)

// TestErasedSpaceCompacted: after an erase is applied, the node compacts
// the space's rows by itself (Pebble frees a rewritten row's old bytes
// only then), without anyone running loam compact.
func TestErasedSpaceCompacted(t *testing.T) {
	ctx := context.Background()
	logs := &testkit.SyncBuffer{}
	n := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	sp := newSpace(t, n, "photos")
	for i := range 20 {
		if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "p/%d", i), make([]byte, 32<<10))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sp.Erase(ctx, []byte("p/"), true); err != nil {
		t.Fatal(err)
	}
	if !testkit.Poll(30*time.Second, 20*time.Millisecond, func() bool {
		return strings.Contains(logs.String(), "erase: compacted the space's rows") && strings.Contains(logs.String(), sp.ID().String())
	}) {
		t.Fatalf("the erased space was not compacted; log:\n%s", logs)
	}
}
