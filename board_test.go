package loam_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/loamdb/loam"
)

// pollSeen is what a test compares of a poll between an embedded node and
// a daemon: everything but IDs and times.
type pollSeen struct {
	Question        string
	Ballot          string
	Counts          []int
	Signed, Counted int
	Late, Ignored   int
	Voters          []string
	Closed          bool
}

func seen(p loam.Poll) pollSeen {
	s := pollSeen{Question: p.Question, Ballot: p.Ballot, Counts: p.Counts, Signed: p.Signed, Counted: p.Counted, Late: p.Late, Ignored: p.Ignored, Closed: p.Closed}
	for _, v := range p.Votes {
		s.Voters = append(s.Voters, fmt.Sprintf("%s:%d", v.Name, v.Option))
	}
	return s
}

func putPoll(t *testing.T, ctx context.Context, n *loam.Node, sp *loam.Space, ms int64, question string, closes time.Time, ballot string) string {
	t.Helper()
	id := fmt.Sprintf("%013d-%s", ms, n.Author())
	v := fmt.Sprintf(`{"question":%q,"options":["bench","planter","bike rack"],"closes":%q,"ballot":%q}`, question, closes.Format(time.RFC3339Nano), ballot)
	if err := sp.Put(ctx, []byte("board/poll/"+id), []byte(v)); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPollTally: the same polls read embedded and through a daemon give
// the same tallies: a vote counts; a vote signed after the close does
// not; in a private space (no app rules) a vote whose key names a person
// who did not certify its signer is ignored, and in a public space with
// the board's rules it is refused on writing; a secret ballot shows
// counts only.
func TestPollTally(t *testing.T) {
	ctx := ctxT(t)
	var got [][]pollSeen
	eachVia(t, func(t *testing.T, n *loam.Node) {
		street := must(n.CreateSpace(ctx, "street", loam.Private))(t)
		square := must(n.CreateSpace(ctx, "square", loam.Public))(t)
		ana, _, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		open := putPoll(t, ctx, n, street, now.UnixMilli(), "What for the corner?", now.Add(time.Hour), "open")
		closed := putPoll(t, ctx, n, street, now.UnixMilli()+1, "Last week's?", now.Add(-time.Hour), "open")
		secret := putPoll(t, ctx, n, street, now.UnixMilli()+2, "Secret?", now.Add(time.Hour), "secret")
		for _, k := range []string{
			"board/vote/" + open + "/" + ana.ID,
			"board/vote/" + closed + "/" + ana.ID, // signed now, after the close: not counted
			"board/vote/" + secret + "/" + ana.ID,
		} {
			if err := street.Put(ctx, []byte(k), []byte(`{"option":1}`)); err != nil {
				t.Fatal(err)
			}
		}
		// Ana's device votes as another person: the key's IDT did not
		// certify the signer. A private space has no app rules: written,
		// and ignored by the reader.
		forged := "board/vote/" + open + "/idt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		if err := street.Put(ctx, []byte(forged), []byte(`{"option":0}`)); err != nil {
			t.Fatal(err)
		}

		polls := must(street.Polls(ctx))(t)
		if len(polls) != 3 || polls[0].ID != secret || polls[2].ID != open {
			t.Fatalf("Polls: %+v, want the 3 polls newest first", polls)
		}
		var run []pollSeen
		for _, id := range []string{open, closed, secret} {
			p := must(street.Poll(ctx, "board/poll/"+id))(t)
			if byID := must(street.Poll(ctx, id))(t); !reflect.DeepEqual(seen(byID), seen(p)) {
				t.Fatalf("Poll by ID %+v, by key %+v", byID, p)
			}
			run = append(run, seen(p))
		}
		want := []pollSeen{
			{Question: "What for the corner?", Ballot: "open", Counts: []int{0, 1, 0}, Signed: 1, Counted: 1, Ignored: 1, Voters: []string{"Ana:1"}},
			{Question: "Last week's?", Ballot: "open", Counts: []int{0, 0, 0}, Signed: 1, Late: 1, Closed: true},
			{Question: "Secret?", Ballot: "secret", Counts: []int{0, 1, 0}, Signed: 1, Counted: 1},
		}
		if !reflect.DeepEqual(run, want) {
			t.Fatalf("tallies:\n got  %+v\n want %+v", run, want)
		}
		if p := must(street.Poll(ctx, open))(t); p.Person != ana.ID || p.Name != "Ana" || p.Votes[0].Person != ana.ID || p.Rule == "" {
			t.Fatalf("the open poll: %+v, want Ana's, her vote by her identity, and the rule", p)
		}
		if _, err := street.Poll(ctx, "0000000000000-aut_nobody"); !errors.Is(err, loam.ErrNotFound) {
			t.Fatalf("Poll of no poll: %v, want ErrNotFound", err)
		}
		if _, err := street.Poll(ctx, "board/vote/"+open+"/"+ana.ID); err == nil {
			t.Fatal("Poll of a vote key: no error")
		}

		// Where the board's rules are in force, the forged vote is
		// refused on writing.
		if _, err := square.DeclareRules(ctx, must(builtin("board"))(t)); err != nil {
			t.Fatal(err)
		}
		p := putPoll(t, ctx, n, square, now.UnixMilli(), "Square?", now.Add(time.Hour), "open")
		if err := square.Put(ctx, []byte("board/vote/"+p+"/idt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), []byte(`{"option":0}`)); !errors.Is(err, loam.ErrAppRule) {
			t.Fatalf("a vote as another person where the rules are in force: %v, want ErrAppRule", err)
		}
		run = append(run, seen(must(square.Poll(ctx, p))(t)))
		got = append(got, run)
	})
	if len(got) == 2 && !reflect.DeepEqual(got[0], got[1]) {
		t.Fatalf("embedded and through a daemon differ:\n%+v\n%+v", got[0], got[1])
	}
}

func builtin(app string) (loam.AppRules, error) {
	r, ok := loam.BuiltinRules(app)
	if !ok {
		return r, fmt.Errorf("no builtin rules of %q", app)
	}
	return r, nil
}
