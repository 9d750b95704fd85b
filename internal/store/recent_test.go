package store

import (
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// TestRecentPlacesBounded: the places of recent commits remembered for
// finding deps stay within recentAll over all loaded spaces (two
// generations each), however many spaces a node holds, and a space alone
// keeps the full recentIDs.
func TestRecentPlacesBounded(t *testing.T) {
	a := &applier{spaces: map[keys.SpaceID]*spaceState{}}
	if got := a.recentLimit(); got != recentIDs {
		t.Fatalf("no space loaded: limit %d, want %d", got, recentIDs)
	}
	for i := range 1000 {
		var id keys.SpaceID
		id[0], id[1] = byte(i), byte(i>>8)
		a.spaces[id] = newSpaceState(id)
		if total := 2 * a.recentLimit() * len(a.spaces); a.recentLimit() > minRecentIDs && total > recentAll {
			t.Fatalf("%d spaces: %d places each, %d in all, over %d", len(a.spaces), 2*a.recentLimit(), total, recentAll)
		}
	}
	st := newSpaceState(keys.SpaceID{})
	for i := range 3 * minRecentIDs {
		var id keys.CommitID
		id[0], id[1] = byte(i), byte(i>>8)
		st.remember(id, loc{}, minRecentIDs)
	}
	if n := len(st.recent) + len(st.older); n > 2*minRecentIDs {
		t.Fatalf("remembered %d places with a limit of %d a generation", n, minRecentIDs)
	}
}
