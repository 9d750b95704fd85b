package storetest

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// NextHeader returns the header of author's next commit in space sp on
// st, dated now: the seq after author's last commit there (Prev its ID),
// and every other author's head as a dep, in ID order.
func NextHeader(ctx context.Context, t TB, st Store, sp keys.SpaceID, author keys.AuthorID) commit.Header {
	t.Helper()
	heads, err := st.Heads(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	h := commit.Header{Space: sp, Author: author, Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}}
	for _, hd := range heads {
		if hd.Author == author {
			h.Seq, h.Prev = hd.Seq+1, hd.ID
		} else {
			h.Deps = append(h.Deps, hd.ID)
		}
	}
	slices.SortFunc(h.Deps, func(a, b keys.CommitID) int { return bytes.Compare(a[:], b[:]) })
	return h
}

// Equivocate builds two commits by signer in space sp with the same
// NextHeader: a fork, as a device whose key was copied to a second
// machine makes. The first puts key to "left", the second to "right".
// Apply both to one store (see Fork), or one to each end of a network.
func Equivocate(ctx context.Context, t TB, st Store, sp keys.SpaceID, signer commit.Signer, key string) (left, right *commit.Commit) {
	t.Helper()
	h := NextHeader(ctx, t, st, sp, signer.Author())
	var cs [2]*commit.Commit
	for i, v := range []string{"left", "right"} {
		var err error
		if cs[i], err = commit.Build(h, []commit.Op{commit.Put([]byte(key), []byte(v))}, signer); err != nil {
			t.Fatal(err)
		}
	}
	return cs[0], cs[1]
}

// Fork stores in st both commits of Equivocate (one after the other, so
// the second is the fork's evidence) and returns their seq.
func Fork(ctx context.Context, t TB, st Store, sp keys.SpaceID, signer commit.Signer, key string) uint64 {
	t.Helper()
	left, right := Equivocate(ctx, t, st, sp, signer, key)
	for _, c := range []*commit.Commit{left, right} {
		if _, err := st.Apply(ctx, sp, []*commit.Commit{c}); err != nil {
			t.Fatal(err)
		}
	}
	return left.Seq
}
