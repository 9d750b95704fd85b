package storetest

import (
	"context"

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
