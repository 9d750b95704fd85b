package poll

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func TestCount(t *testing.T) {
	p := Poll{Options: []string{"bench", "bike rack", "planter"}, Closes: Time{Wall: 100}}
	got := Count(p, []Vote{
		{By: "ana", Option: 0, At: Time{Wall: 10}},
		{By: "ana", Option: 2, At: Time{Wall: 20}}, // changed her vote
		{By: "bo", Option: 1, At: Time{Wall: 30}},
		{By: "bo", Option: 0, At: Time{Wall: 101}}, // after the close: bo's earlier vote stands
		{By: "cy", Option: 7, At: Time{Wall: 40}},  // no such option
		{By: "di", Option: 1, At: Time{Wall: 100}}, // at the close: counts
		{By: "ed", Option: 2, At: Time{Wall: 50}},
		{By: "ed", Option: 1, At: Time{Wall: 50}},  // a tie at one time: the lower option
		{By: "fa", Option: 0, At: Time{Wall: 200}}, // only late
	})
	want := Tally{Counts: []int{0, 3, 1}, Ballots: map[string]int{"ana": 2, "bo": 1, "di": 1, "ed": 1}, Late: 2, Invalid: 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Count = %+v\nwant    %+v", got, want)
	}
}

// TestPropertyTally: any order of the same votes gives the same tally; the
// counts sum to the voters; each voter's counted option is its latest
// vote signed by the close.
func TestPropertyTally(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		r := rand.New(rand.NewPCG(seed, seed))
		p := Poll{Options: make([]string, rapid.IntRange(1, 5).Draw(rt, "options")), Closes: Time{Wall: 50}}
		var votes []Vote
		for range rapid.IntRange(0, 40).Draw(rt, "votes") {
			votes = append(votes, Vote{By: fmt.Sprint("m", r.IntN(6)), Option: r.IntN(len(p.Options) + 1), At: Time{Wall: uint64(r.IntN(60)), Logical: uint32(r.IntN(2))}})
		}
		want := Count(p, votes)
		for range 3 {
			r.Shuffle(len(votes), func(i, j int) { votes[i], votes[j] = votes[j], votes[i] })
			if got := Count(p, votes); !reflect.DeepEqual(got, want) {
				rt.Fatalf("another order: %+v, want %+v", got, want)
			}
		}
		sum := 0
		for _, c := range want.Counts {
			sum += c
		}
		if sum != len(want.Ballots) {
			rt.Fatalf("counts sum to %d for %d voters", sum, len(want.Ballots))
		}
		for by, o := range want.Ballots {
			var latest *Vote
			for i := range votes {
				v := &votes[i]
				if v.By != by || v.At.Compare(p.Closes) > 0 || v.Option >= len(p.Options) {
					continue
				}
				if latest == nil || v.At.Compare(latest.At) > 0 || v.At.Compare(latest.At) == 0 && v.Option < latest.Option {
					latest = v
				}
			}
			if latest == nil || latest.Option != o {
				rt.Fatalf("%s counted for %d, its latest vote by the close is %+v", by, o, latest)
			}
		}
	})
}
