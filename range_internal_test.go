package loam

import (
	"testing"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// TestRangeAuthorNames: a range names each key's author as Lookup does
// while it formats an author once for a run of its keys (toKVNamed).
func TestRangeAuthorNames(t *testing.T) {
	a, b := keys.AuthorID{1}, keys.AuthorID{2}
	var names authorName
	for i, au := range []keys.AuthorID{a, a, b, a, {}, b, b} {
		e := view.Entry{Version: view.Version{Author: au, Seq: 1}, Value: []byte("v")}
		got, want := toKVNamed([]byte("k"), e, &names), toKV([]byte("k"), e)
		if got.Author != want.Author {
			t.Fatalf("entry %d: author %q, want %q", i, got.Author, want.Author)
		}
		if !au.IsZero() && got.Author != au.String() {
			t.Fatalf("entry %d: author %q, want %q", i, got.Author, au.String())
		}
	}
}
