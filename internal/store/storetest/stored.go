package storetest

import (
	"context"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// StoredCommits returns, decoded, every commit st holds of space sp, in
// the order AllCommits gives them.
func StoredCommits(t TB, st *store.Store, sp keys.SpaceID) []*commit.Commit {
	t.Helper()
	var cs []*commit.Commit
	for sc, err := range st.AllCommits(context.Background(), sp) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// TempStore opens a store in a temporary directory of t, without syncing
// to disk; it is closed when t ends.
func TempStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TempSpace is TempStore holding the space of genesis, named "s".
func TempSpace(t testing.TB, genesis *commit.Commit) *store.Store {
	t.Helper()
	st := TempStore(t)
	if err := st.CreateSpace(context.Background(), "s", genesis); err != nil {
		t.Fatal(err)
	}
	return st
}
