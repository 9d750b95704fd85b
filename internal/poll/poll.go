// Package poll tallies the community board's polls (#15) from their
// signed votes: each member's vote is one key of its own, changeable until
// the poll closes, so the tally is a pure function of the votes held, and
// anyone holding them can check it.
//
// What a ballot hides is said plainly: every vote is a signed entry that
// every member (and, in a public space, anyone with the space ID) can read.
// A "secret" poll only shows counts in the app; it does not hide who voted
// for what from a member who reads the entries.
package poll

import (
	"cmp"
	"slices"
)

// Time is a signed commit time (wall microseconds, then logical).
type Time struct {
	Wall    uint64
	Logical uint32
}

// Compare orders times.
func (a Time) Compare(b Time) int {
	return cmp.Or(cmp.Compare(a.Wall, b.Wall), cmp.Compare(a.Logical, b.Logical))
}

// Poll is a poll's definition, as its author wrote it.
type Poll struct {
	Options []string
	// Closes is when voting ends: a vote signed after it does not count.
	Closes Time
}

// Vote is one write of a member's vote key: By is the member the key names
// and the signer (the app rules refuse it otherwise), Option an index
// into Poll.Options.
type Vote struct {
	By     string
	Option int
	At     Time
}

// Tally is a poll's result.
type Tally struct {
	// Counts holds the votes per option, in the poll's order.
	Counts []int
	// Ballots holds each voter's counted option.
	Ballots map[string]int
	// Late counts votes signed after the close (not counted); Invalid,
	// votes for an option the poll does not have.
	Late, Invalid int
}

// Count tallies votes for p: each member's latest vote signed at or
// before the close counts (a member changes its vote by writing its key
// again), whatever was written after the close; ties between two writes
// at one time go to the lower option, so every replica counts the same.
// votes must hold that latest vote for the tally to count it: a view
// holds only a key's latest write, so a reader whose latest write is
// late also gives the write held at the close (internal/api's readPoll).
func Count(p Poll, votes []Vote) Tally {
	t := Tally{Counts: make([]int, len(p.Options)), Ballots: map[string]int{}}
	last := map[string]Vote{}
	for _, v := range votes {
		switch {
		case v.At.Compare(p.Closes) > 0:
			t.Late++
			continue
		case v.Option < 0 || v.Option >= len(p.Options):
			t.Invalid++
			continue
		}
		prev, ok := last[v.By]
		if !ok || v.At.Compare(prev.At) > 0 || v.At.Compare(prev.At) == 0 && v.Option < prev.Option {
			last[v.By] = v
		}
	}
	voters := make([]string, 0, len(last))
	for by := range last {
		voters = append(voters, by)
	}
	slices.Sort(voters)
	for _, by := range voters {
		o := last[by].Option
		t.Ballots[by] = o
		t.Counts[o]++
	}
	return t
}
