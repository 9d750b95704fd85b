package poll

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

const (
	ana   = "aut_ana"
	bo    = "aut_bo"
	anaID = "idt_ana"
	boID  = "idt_bo"
)

func persons(author string) string {
	return map[string]string{ana: anaID, bo: boID}[author]
}

func pollEntry(author string, closes time.Time, ballot string) Entry {
	return Entry{
		Key:    PollPrefix + "1795275122119-" + author,
		Author: author,
		At:     Time{Wall: 1},
		Value:  []byte(`{"question":"Bench or planter?","options":["bench","planter"],"closes":"` + closes.Format(time.RFC3339) + `","ballot":"` + ballot + `"}`),
	}
}

func TestRead(t *testing.T) {
	closes := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p := pollEntry(ana, closes, "open")
	before, after := TimeOf(closes.Add(-time.Minute)), TimeOf(closes.Add(time.Second))
	vote := func(idt, author, value string, at Time) Entry {
		return Entry{Key: VotePrefix + "1795275122119-" + ana + "/" + idt, Author: author, At: at, Value: []byte(value)}
	}
	got := Read([]Entry{
		p,
		vote(anaID, ana, `{"option":1}`, before),
		vote(boID, ana, `{"option":0}`, before), // ana votes as bo: ignored
		vote("idt_cy", "aut_cy", `{"option":0}`, before),                       // no person certified aut_cy: ignored
		vote(boID, bo, `{"option":0}`, after),                                  // after the close: not counted
		vote("idt_x", bo, `{"option":"zero"}`, before),                         // not a vote
		{Key: PollPrefix + "1795275122119-" + bo, Author: ana, Value: p.Value}, // a poll key naming bo, signed by ana
		{Key: "board/swap/1795275122119-" + ana, Author: ana, Value: []byte(`{}`)},
	}, persons)
	if len(got) != 1 {
		t.Fatalf("Read found %d polls, want 1 (the forged poll key ignored): %+v", len(got), got)
	}
	r := got[0]
	want := Tally{Counts: []int{0, 1}, Ballots: map[string]int{anaID: 1}, Late: 1}
	if !reflect.DeepEqual(r.Tally, want) || r.Signed != 2 || r.Ignored != 3 {
		t.Fatalf("tally %+v signed %d ignored %d, want %+v, 2 signed, 3 ignored", r.Tally, r.Signed, r.Ignored, want)
	}
	if len(r.Votes) != 1 || r.Votes[0].Person != anaID || r.Votes[0].Option != 1 {
		t.Fatalf("counted votes %+v, want ana's for option 1", r.Votes)
	}

	secret, err := ReadOne(pollEntry(ana, closes, "secret"), slices.Values([]Entry{vote(anaID, ana, `{"option":1}`, before)}), persons)
	if err != nil || !secret.Secret || secret.Votes != nil || secret.Tally.Ballots != nil || secret.Tally.Counts[1] != 1 {
		t.Fatalf("secret ballot: %+v, %v: want counts only", secret, err)
	}
}

func TestDecodePollRefuses(t *testing.T) {
	key := PollPrefix + "1795275122119-" + ana
	for name, c := range map[string]struct{ key, value string }{
		"not json":      {key, `{`},
		"one option":    {key, `{"question":"q","options":["a"],"closes":"2026-12-06T12:00:00Z"}`},
		"no question":   {key, `{"options":["a","b"],"closes":"2026-12-06T12:00:00Z"}`},
		"bad close":     {key, `{"question":"q","options":["a","b"],"closes":"tomorrow"}`},
		"no close":      {key, `{"question":"q","options":["a","b"]}`},
		"empty option":  {key, `{"question":"q","options":["a",""],"closes":"2026-12-06T12:00:00Z"}`},
		"ballot":        {key, `{"question":"q","options":["a","b"],"closes":"2026-12-06T12:00:00Z","ballot":"hidden"}`},
		"another's key": {PollPrefix + "1795275122119-" + bo, `{"question":"q","options":["a","b"],"closes":"2026-12-06T12:00:00Z"}`},
		"no ms":         {PollPrefix + ana, `{"question":"q","options":["a","b"],"closes":"2026-12-06T12:00:00Z"}`},
		"deeper key":    {key + "/x", `{"question":"q","options":["a","b"],"closes":"2026-12-06T12:00:00Z"}`},
	} {
		if _, err := DecodePoll(c.key, ana, []byte(c.value)); err == nil {
			t.Errorf("%s: DecodePoll = %v, want an error", name, err)
		}
	}
	if _, err := DecodePoll(key, ana, []byte(`{"question":"q","options":["a","b"],"closes":"2026-12-06T12:00:00Z","extra":1}`)); err != nil {
		t.Errorf("a poll with an unknown field: %v (unknown fields are allowed)", err)
	}
}

func TestDecodeVote(t *testing.T) {
	for v, want := range map[string]int{`{"option":0}`: 0, `{"option":15,"note":"x"}`: 15} {
		if got, err := DecodeVote([]byte(v)); err != nil || got != want {
			t.Errorf("DecodeVote(%s) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{`{}`, `{"option":16}`, `{"option":-1}`, `{"option":1.5}`, `{"option":"1"}`, `{"option":1} {}`, `null`, ``} {
		if got, err := DecodeVote([]byte(v)); err == nil {
			t.Errorf("DecodeVote(%s) = %d, want an error", v, got)
		}
	}
}

func FuzzDecodePoll(f *testing.F) {
	f.Add(PollPrefix+"1795275122119-"+ana, []byte(`{"question":"q","options":["a","b"],"closes":"2026-12-06T12:00:00Z","ballot":"secret"}`))
	f.Add(PollPrefix+"1795275122119-"+ana, []byte(`{"question":"q","options":["a","b","c"],"closes":"2026-12-06T12:00:00.123+01:00"}`))
	f.Add(PollPrefix+"x", []byte(`[]`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		r, err := DecodePoll(key, ana, value)
		if err != nil {
			return
		}
		if len(r.Options) < 2 || len(r.Options) > MaxOptions || r.Question == "" || len(value) > MaxPollValue {
			t.Fatalf("DecodePoll accepted %q: %+v", value, r)
		}
	})
}

func FuzzDecodeVote(f *testing.F) {
	f.Add([]byte(`{"option":3}`))
	f.Add([]byte(`{"option":1e1}`))
	f.Add([]byte(`{"option":null}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		if o, err := DecodeVote(value); err == nil && (o < 0 || o >= MaxOptions) {
			t.Fatalf("DecodeVote(%q) = %d", value, o)
		}
	})
}

// TestPropertyRead: whatever keys members write under board/vote/, the
// reader counts exactly the votes whose signer its key's person
// certified, as Count would from those alone, in any order of entries.
func TestPropertyRead(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		r := rand.New(rand.NewPCG(seed, seed))
		closes := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		p := pollEntry(ana, closes, "open")
		id := strings.TrimPrefix(p.Key, PollPrefix)
		devices := []string{ana, bo, "aut_cy"} // aut_cy: certified by no one
		idts := []string{anaID, boID, "idt_cy"}
		entries := []Entry{p}
		var want []Vote
		seen := map[string]bool{}
		for range rapid.IntRange(0, 12).Draw(rt, "votes") {
			dev, idt := devices[r.IntN(3)], idts[r.IntN(3)]
			key := VotePrefix + id + "/" + idt
			if seen[key] {
				continue // one live write per key
			}
			seen[key] = true
			e := Entry{Key: key, Author: dev, At: TimeOf(closes.Add(time.Duration(r.IntN(120)-60) * time.Second)), Value: []byte(fmt.Sprintf(`{"option":%d}`, r.IntN(3)))}
			entries = append(entries, e)
			if persons(dev) == idt {
				o, _ := DecodeVote(e.Value)
				want = append(want, Vote{By: idt, Option: o, At: e.At})
			}
		}
		r.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
		got := Read(entries, persons)
		if len(got) != 1 {
			rt.Fatalf("Read found %d polls", len(got))
		}
		tally := Count(Poll{Options: got[0].Options, Closes: TimeOf(closes)}, want)
		if !reflect.DeepEqual(got[0].Tally, tally) || got[0].Signed != len(want) || got[0].Ignored != len(entries)-1-len(want) {
			rt.Fatalf("Read: %+v (signed %d, ignored %d), want %+v from the %d verified votes", got[0].Tally, got[0].Signed, got[0].Ignored, tally, len(want))
		}
	})
}

// BenchmarkReadOne: one poll with 1000 verified votes and 1000 forged
// vote keys, as a list of a space's polls reads each.
func BenchmarkReadOne(b *testing.B) {
	closes := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p := pollEntry(ana, closes, "open")
	id := strings.TrimPrefix(p.Key, PollPrefix)
	people := map[string]string{}
	var votes []Entry
	for i := range 1000 {
		dev, idt := fmt.Sprintf("aut_%04d", i), fmt.Sprintf("idt_%04d", i)
		people[dev] = idt
		votes = append(votes,
			Entry{Key: VotePrefix + id + "/" + idt, Author: dev, At: TimeOf(closes.Add(-time.Minute)), Value: []byte(`{"option":1}`)},
			Entry{Key: VotePrefix + id + "/idt_x" + idt, Author: dev, At: TimeOf(closes.Add(-time.Minute)), Value: []byte(`{"option":0}`)})
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := ReadOne(p, slices.Values(votes), func(a string) string { return people[a] })
		if err != nil || r.Signed != 1000 || r.Ignored != 1000 {
			b.Fatalf("%+v, %v", r.Tally, err)
		}
	}
}
