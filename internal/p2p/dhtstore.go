package p2p

import (
	"context"
	"errors"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// maxProviderRecords bounds the provider records a DHT server keeps. kad-dht
// keeps them in memory for 48 h, outside the resource manager: a flood of
// ADD_PROVIDER from one address stored 15–20 a second in
// TestBootstrapUnderFlood, a gigabyte in two days. At about 250 bytes a
// record this is some 60 MiB; a community's devices re-announce a few
// spaces each every 6 h, so it holds hundreds of thousands of members'
// announcements.
const maxProviderRecords = 250_000

// errProvidersFull refuses a provider record beyond maxProviderRecords.
var errProvidersFull = errors.New("p2p: provider records full")

// cappedStore is an in-memory datastore of at most max entries, for a DHT
// server's provider records: a new key beyond max is refused (the
// ADD_PROVIDER that wanted it fails), while overwrites, reads and deletes
// (kad-dht's expiry) always work, so room comes back as records expire.
type cappedStore struct {
	*dssync.MutexDatastore
	mu  sync.Mutex // orders Put and Delete, so n is exact
	n   int        // keys held
	max int
}

func newCappedStore(max int) *cappedStore {
	return &cappedStore{MutexDatastore: dssync.MutexWrap(ds.NewMapDatastore()), max: max}
}

// Put stores value under key, unless key is new and the store is full.
func (c *cappedStore) Put(ctx context.Context, key ds.Key, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	has, err := c.MutexDatastore.Has(ctx, key)
	if err != nil {
		return err
	}
	if !has && c.n >= c.max {
		return errProvidersFull
	}
	if err := c.MutexDatastore.Put(ctx, key, value); err != nil {
		return err
	}
	if !has {
		c.n++
	}
	return nil
}

// Delete removes key.
func (c *cappedStore) Delete(ctx context.Context, key ds.Key) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	has, err := c.MutexDatastore.Has(ctx, key)
	if err != nil || !has {
		return err
	}
	if err := c.MutexDatastore.Delete(ctx, key); err != nil {
		return err
	}
	c.n--
	return nil
}

// Batch returns a batch whose commit goes through Put and Delete, so that
// it is counted and capped too.
func (c *cappedStore) Batch(context.Context) (ds.Batch, error) { return ds.NewBasicBatch(c), nil }

// Len returns the number of keys held.
func (c *cappedStore) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
