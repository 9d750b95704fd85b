package space_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/schema"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// TestWriteOnceRefusedBeforeSigning: with the board's rules in force, a
// device's second write of its own poll (a write-once key) is refused by
// its own node with ErrAppRule, before anything is signed (so no peer
// counts it as misbehaving); a delete of it too. Its own declaration is
// what it checks against at once (not the rules it read before).
func TestWriteOnceRefusedBeforeSigning(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	for _, a := range schema.Apps {
		if a.Name == "board" {
			if _, err := f.sp.DeclareRules(ctx, commit.Schema{App: a.Name, Version: a.Version, Body: a.Body}); err != nil {
				t.Fatal(err)
			}
		}
	}
	poll := []byte("board/poll/1795275592000-" + f.sp.Author().String())
	value := []byte(`{"question":"Paint the benches?","options":["green","blue"],"closes":"2026-12-20T18:00:00Z"}`)
	if _, err := f.sp.Commit(ctx, []commit.Op{commit.Put(poll, value)}); err != nil {
		t.Fatalf("the poll's first write: %v", err)
	}
	before, _ := f.st.Heads(ctx, f.sk.Space())
	for _, op := range []commit.Op{commit.Put(poll, value), commit.Del(poll)} {
		_, err := f.sp.Commit(ctx, []commit.Op{op})
		if !errors.Is(err, space.ErrAppRule) || !strings.Contains(err.Error(), "written once") {
			t.Fatalf("%s of the poll again: %v, want ErrAppRule saying it is written once", op.Kind, err)
		}
	}
	after, _ := f.st.Heads(ctx, f.sk.Space())
	for i := range after {
		if len(after) != len(before) || after[i] != before[i] {
			t.Fatalf("a refused write reached the store: heads %+v, were %+v", after, before)
		}
	}
	if got, err := f.st.Get(ctx, f.sk.Space(), poll); err != nil || string(got.Value) != string(value) {
		t.Fatalf("the poll reads %q, %v", got.Value, err)
	}
}
