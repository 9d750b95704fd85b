package loam_test

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/loamdb/loam"
)

// TestPollVoteRewrittenAfterClose: a vote written again after its poll
// closed (the view then holds only the late write) still counts as it
// was at the close, embedded and through a daemon, in a private space
// (sealed writes) and in a public one with the board's rules: the late
// write is counted as late. A vote written only after the close does not
// count; nor does one deleted or erased before the close and written
// again after it (nothing held at the close to count).
func TestPollVoteRewrittenAfterClose(t *testing.T) {
	ctx := ctxT(t)
	var got [][]pollSeen
	eachVia(t, func(t *testing.T, n *loam.Node) {
		street := must(n.CreateSpace(ctx, "street", loam.Private))(t)
		square := must(n.CreateSpace(ctx, "square", loam.Public))(t)
		if _, err := square.DeclareRules(ctx, must(builtin("board"))(t)); err != nil {
			t.Fatal(err)
		}
		ana, _, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		var run []pollSeen
		for _, sp := range []*loam.Space{street, square} {
			ms := time.Now().UnixMilli()
			var ids [5]string // rewritten, only after, deleted, erased, deleted after
			var votes [5][]byte
			for i := range ids {
				ids[i] = pollID(n, ms+int64(i))
				votes[i] = []byte("board/vote/" + ids[i] + "/" + ana.ID)
			}
			put := func(i int, v string) {
				t.Helper()
				if err := sp.Put(ctx, votes[i], []byte(v)); err != nil {
					t.Fatal(err)
				}
			}
			// Before the close.
			put(0, `{"option":1}`)
			put(2, `{"option":1}`)
			if err := sp.Delete(ctx, votes[2]); err != nil {
				t.Fatal(err)
			}
			put(3, `{"option":1}`)
			if _, err := sp.Erase(ctx, votes[3]); err != nil {
				t.Fatal(err)
			}
			put(4, `{"option":1}`)
			// Every write so far is signed at or before now (its time is
			// the clock's, or the last one's); the close is after it.
			closes := time.Now().Truncate(time.Microsecond).Add(time.Microsecond)
			for i, q := range []string{"Rewritten?", "Only after?", "Deleted?", "Erased?", "Deleted after?"} {
				putPoll(t, ctx, n, sp, ms+int64(i), q, closes, "open")
			}
			afterClose(t, ctx, closes)
			put(0, `{"option":0}`)
			put(1, `{"option":2}`)
			put(2, `{"option":2}`)
			put(3, `{"option":0}`)
			if err := sp.Delete(ctx, votes[4]); err != nil { // a late delete: the vote at the close counts
				t.Fatal(err)
			}
			if kv := must(sp.Lookup(ctx, votes[0]))(t); !kv.Time.After(closes) {
				t.Fatalf("the rewrite is signed at %v, not after the close %v", kv.Time, closes)
			}
			for _, id := range ids {
				run = append(run, seen(must(sp.Poll(ctx, id))(t)))
			}
		}
		want := []pollSeen{
			{Question: "Rewritten?", Ballot: "open", Counts: []int{0, 1, 0}, Signed: 2, Counted: 1, Late: 1, Voters: []string{"Ana:1"}, Closed: true},
			{Question: "Only after?", Ballot: "open", Counts: []int{0, 0, 0}, Signed: 1, Late: 1, Closed: true},
			{Question: "Deleted?", Ballot: "open", Counts: []int{0, 0, 0}, Signed: 1, Late: 1, Closed: true},
			{Question: "Erased?", Ballot: "open", Counts: []int{0, 0, 0}, Signed: 1, Late: 1, Closed: true},
			{Question: "Deleted after?", Ballot: "open", Counts: []int{0, 1, 0}, Signed: 1, Counted: 1, Voters: []string{"Ana:1"}, Closed: true},
		}
		want = append(want, want...) // the private space, then the public one
		if !reflect.DeepEqual(run, want) {
			t.Fatalf("tallies:\n got  %+v\n want %+v", run, want)
		}
		got = append(got, run)
	})
	if len(got) == 2 && !reflect.DeepEqual(got[0], got[1]) {
		t.Fatalf("embedded and through a daemon differ:\n%+v\n%+v", got[0], got[1])
	}
}

// pollID is the ID (MS-AUTHOR) of the poll n writes with putPoll at ms.
func pollID(n *loam.Node, ms int64) string { return fmt.Sprintf("%013d-%s", ms, n.Author()) }

// afterClose waits until the wall clock is past closes, so that every
// write signed from now on is signed after it (a commit's time is at
// least the clock's): a wait on the clock, of a microsecond or so.
func afterClose(t *testing.T, ctx context.Context, closes time.Time) {
	t.Helper()
	for !time.Now().After(closes) {
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		runtime.Gosched()
	}
}
