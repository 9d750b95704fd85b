package space

import (
	"context"
	"iter"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/view"
)

// WinnerAt returns the write to key that was its winner as of signed time
// at: of the writes held to it signed at or before at (live, superseded,
// deleted or erased), the greatest by the view's order; ok is false if
// none is held. A write whose payload retention or an erase dropped is
// returned erased, without a value (store.Store.WinnerAt). It reads the
// key's past, not the view: for a few keys at a time (the board's votes
// rewritten after their poll closed).
func (s *Space) WinnerAt(ctx context.Context, key []byte, at commit.HLC) (e view.Entry, ok bool, err error) {
	if err := s.sealed(); err != nil {
		return view.Entry{}, false, err
	}
	return s.st.WinnerAt(ctx, s.info.ID, key, at)
}

// Winners yields the winner of each key under prefix in key order, as
// Range does, but a key whose winner is a delete too (with that delete):
// for readers that must tell a key deleted at some time from one never
// written (a vote withdrawn after its poll closed).
func (s *Space) Winners(ctx context.Context, prefix []byte) iter.Seq2[store.KV, error] {
	return func(yield func(store.KV, error) bool) {
		if err := s.sealed(); err != nil {
			yield(store.KV{}, err)
			return
		}
		for r, err := range s.st.CellsUnder(ctx, s.info.ID, prefix) {
			if err != nil {
				yield(store.KV{}, err)
				return
			}
			if w, ok := r.Cell.Winner(); ok && !yield(store.KV{Key: r.Key, Entry: w}, nil) {
				return
			}
		}
	}
}
