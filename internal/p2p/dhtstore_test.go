package p2p

import (
	"context"
	"errors"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// TestCappedStore: new keys beyond the cap are refused, overwrites and
// deletes always work, deleting makes room, and batches are counted too.
func TestCappedStore(t *testing.T) {
	ctx := context.Background()
	c := newCappedStore(3)
	key := func(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/providers/k/%d", i)) }
	for i := range 3 {
		if err := c.Put(ctx, key(i), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Put(ctx, key(3), []byte{1}); !errors.Is(err, errProvidersFull) {
		t.Fatalf("a fourth key: %v, want errProvidersFull", err)
	}
	if err := c.Put(ctx, key(0), []byte{2}); err != nil {
		t.Fatalf("overwriting a key when full: %v", err)
	}
	if err := c.Delete(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, key(1)); err != nil || c.Len() != 2 {
		t.Fatalf("deleting twice: %v, %d keys", err, c.Len())
	}
	b, err := c.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(ctx, key(4), []byte{1})
	b.Put(ctx, key(5), []byte{1})
	if err := b.Commit(ctx); !errors.Is(err, errProvidersFull) || c.Len() != 3 {
		t.Fatalf("a batch over the cap: %v, %d keys", err, c.Len())
	}
	if v, err := c.Get(ctx, key(0)); err != nil || v[0] != 2 {
		t.Fatalf("get: %v, %v", v, err)
	}
}
