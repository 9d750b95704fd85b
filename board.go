package loam

import (
	"context"
	"time"

	"github.com/loamdb/loam/internal/api"
)

// The community board (#15, docs/apps.md "Community board"): polls under
// board/poll/, their votes under board/vote/. Space.Polls and Space.Poll
// count the tallies from the signed votes the same way embedded and
// through a daemon (one reader, in package api, over package poll).

// Poll is a poll of the community board with its tally.
type Poll struct {
	Key      string    `json:"key"`              // board/poll/MS-AUTHOR
	ID       string    `json:"id"`               // MS-AUTHOR: the POLL of its votes' keys, board/vote/POLL/IDT
	Author   string    `json:"author"`           // the device that signed it
	Person   string    `json:"person,omitempty"` // that device's person (idt_…), if any
	Name     string    `json:"name,omitempty"`   // the person's profile name
	Question string    `json:"question"`
	Options  []string  `json:"options"`
	Closes   time.Time `json:"closes"`
	// Closed: the closing time has passed on the clock of the node that
	// read it.
	Closed bool `json:"closed"`
	// Ballot is "open" (Votes names each voter) or "secret" (counts only:
	// every vote is still a signed entry members can read).
	Ballot string `json:"ballot"`
	// Counts is the counted votes per option, in Options' order: each
	// person's vote signed at or before the close.
	Counts []int      `json:"counts"`
	Votes  []PollVote `json:"votes,omitempty"`
	// Signed is the votes held that verify (signed by a device of the
	// person their key names): each vote key's latest write and, when
	// that one is late, the write the key held at the close; Counted
	// those counted, Late those signed after the close, Invalid those for
	// no option, Ignored the vote keys that are not a verified vote
	// (someone voting as another).
	Signed  int `json:"signed"`
	Counted int `json:"counted"`
	Late    int `json:"late"`
	Invalid int `json:"invalid"`
	Ignored int `json:"ignored"`
	// Rule says what the tally counts, in a sentence for people.
	Rule string `json:"rule"`
}

// PollVote is one counted vote of an open ballot.
type PollVote struct {
	Person string    `json:"person"` // idt_…
	Name   string    `json:"name,omitempty"`
	Option int       `json:"option"`
	At     time.Time `json:"at"` // its signed time
}

// pollReader is what Polls and Poll need of a space's implementation
// (board_local.go, board_remote.go).
type pollReader interface {
	polls(ctx context.Context) ([]api.Poll, error)
	poll(ctx context.Context, id string) (api.Poll, error)
}

var (
	_ pollReader = (*localSpace)(nil)
	_ pollReader = (*remoteSpace)(nil)
)

// Polls returns the space's newest polls (at most 100), newest first,
// with their tallies.
func (s *Space) Polls(ctx context.Context) ([]Poll, error) {
	ps, err := s.impl.(pollReader).polls(ctx)
	out := make([]Poll, 0, len(ps))
	for _, p := range ps {
		out = append(out, pollOf(p))
	}
	return out, err
}

// Poll returns one poll with its tally: key is its key,
// board/poll/MS-AUTHOR, or MS-AUTHOR alone. A key that holds no poll the
// board can read fails with ErrNotFound.
func (s *Space) Poll(ctx context.Context, key string) (Poll, error) {
	p, err := s.impl.(pollReader).poll(ctx, key)
	if err != nil {
		return Poll{}, err
	}
	return pollOf(p), nil
}

func pollOf(p api.Poll) Poll {
	out := Poll{
		Key: p.Key, ID: p.ID, Author: p.Author, Person: p.Person, Name: p.Name, Question: p.Question,
		Options: p.Options, Closes: p.Closes, Closed: p.Closed, Ballot: p.Ballot, Counts: p.Counts,
		Signed: p.Signed, Counted: p.Counted, Late: p.Late, Invalid: p.Invalid, Ignored: p.Ignored, Rule: p.Rule,
	}
	for _, v := range p.Votes {
		out.Votes = append(out.Votes, PollVote(v))
	}
	return out
}
