package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/poll"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// The community board's polls (#15, docs/apps.md "Community board"):
// GET /v1/spaces/{space}/polls lists the newest polls with their tallies,
// GET /v1/spaces/{space}/polls/{poll} one (POLL: MS-AUTHOR, the poll
// key's last segment). The tally is counted here from the signed votes
// (package poll), the one reader the web UI and the root package share.

// PollRule is what a tally counts, said to the people who read it.
const PollRule = "one vote per person, changeable until the close; votes signed after the close do not count; " +
	"every vote is a signed entry members can read: a secret ballot only hides it in this app"

// maxPolls bounds the polls GET …/polls lists (the newest).
const maxPolls = 100

// Poll is a poll with its tally.
type Poll struct {
	Key      string    `json:"key"`              // board/poll/MS-AUTHOR
	ID       string    `json:"id"`               // MS-AUTHOR
	Author   string    `json:"author"`           // the device that signed it
	Person   string    `json:"person,omitempty"` // the person (idt_…) of that device, if any
	Name     string    `json:"name,omitempty"`   // the person's profile name
	Question string    `json:"question"`
	Options  []string  `json:"options"`
	Closes   time.Time `json:"closes"`
	// Closed: the closing time has passed on this node's clock; the
	// tally is final once every vote signed by the close is here.
	Closed bool   `json:"closed"`
	Ballot string `json:"ballot"` // "open" or "secret"
	// Counts is the counted votes per option, in the options' order.
	Counts []int `json:"counts"`
	// Votes are the counted votes with the voters, for an open ballot
	// only; a secret one shows counts.
	Votes []PollVote `json:"votes,omitempty"`
	// Signed is the votes held that verify (signed by a device of the
	// person their key names): each vote key's latest write and, when
	// that one is late, the write the key held at the close; Counted,
	// those counted; Late, signed after the close; Invalid, for an
	// option the poll does not have; Ignored, vote keys that are not a
	// verified vote.
	Signed  int    `json:"signed"`
	Counted int    `json:"counted"`
	Late    int    `json:"late"`
	Invalid int    `json:"invalid"`
	Ignored int    `json:"ignored"`
	Rule    string `json:"rule"`
}

// PollVote is one counted vote of an open ballot.
type PollVote struct {
	Person string    `json:"person"` // idt_…
	Name   string    `json:"name,omitempty"`
	Option int       `json:"option"`
	At     time.Time `json:"at"` // its signed time
}

func (s *Server) polls(r *http.Request, sp *space.Space) ([]Poll, error) {
	return Polls(r.Context(), s.n, sp)
}

func (s *Server) poll(r *http.Request, sp *space.Space) (Poll, error) {
	return PollOf(r.Context(), s.n, sp, r.PathValue("poll"))
}

// roster maps the space's certified devices to their persons, and
// persons to their profile names.
type roster struct {
	persons map[string]string
	names   map[string]string
}

func rosterOf(ctx context.Context, n *node.Node, sp *space.Space) (roster, error) {
	ms, ps, err := n.Roster(ctx, sp.ID().String())
	if err != nil {
		return roster{}, err
	}
	ro := roster{persons: map[string]string{}, names: map[string]string{}}
	for _, m := range ms {
		if !m.Identity.IsZero() {
			ro.persons[m.Author.String()] = m.Identity.String()
		}
	}
	for _, p := range ps {
		ro.names[p.Identity.String()] = p.Profile.Name
	}
	return ro, nil
}

func pollEntryOf(kv store.KV) poll.Entry {
	e := poll.Entry{Key: string(kv.Key), Author: kv.Entry.Author.String(), At: poll.Time{Wall: kv.Entry.Time.Wall, Logical: kv.Entry.Time.Logical}}
	if kv.Entry.Visible() && !kv.Entry.Erased {
		e.Value = kv.Entry.Value
	}
	return e
}

// Polls reads the newest polls of sp (at most 100) with their tallies.
func Polls(ctx context.Context, n *node.Node, sp *space.Space) ([]Poll, error) {
	ro, err := rosterOf(ctx, n, sp)
	if err != nil {
		return nil, err
	}
	out := []Poll{}
	for kv, err := range sp.Range(ctx, store.Query{Prefix: []byte(poll.PollPrefix), Reverse: true}) {
		if err != nil {
			return nil, err
		}
		p, err := readPoll(ctx, sp, ro, pollEntryOf(kv))
		if err != nil {
			continue // not a poll
		}
		if out = append(out, p); len(out) == maxPolls {
			break
		}
	}
	return out, nil
}

// PollOf reads the poll id (MS-AUTHOR, or its key board/poll/MS-AUTHOR)
// of sp with its tally.
func PollOf(ctx context.Context, n *node.Node, sp *space.Space, id string) (Poll, error) {
	id = strings.TrimPrefix(id, poll.PollPrefix)
	if id == "" || strings.Contains(id, "/") {
		return Poll{}, badRequestf("%q is not a poll: name it by its key's last segment, MS-AUTHOR (as in %sMS-AUTHOR)", id, poll.PollPrefix)
	}
	ro, err := rosterOf(ctx, n, sp)
	if err != nil {
		return Poll{}, err
	}
	e, err := sp.Get(ctx, []byte(poll.PollPrefix+id))
	if err != nil {
		return Poll{}, fmt.Errorf("poll %s%s: %w", poll.PollPrefix, id, err)
	}
	p, err := readPoll(ctx, sp, ro, pollEntryOf(store.KV{Key: []byte(poll.PollPrefix + id), Entry: e}))
	if err != nil {
		return Poll{}, fmt.Errorf("%w: %s%s is not a poll the board can read (%v); list the polls with loam poll SPACE", store.ErrNotFound, poll.PollPrefix, id, err)
	}
	return p, nil
}

// readPoll counts the poll written in e from the votes under its
// prefix, streamed: only the votes that verify are kept. The view holds
// each vote key's latest write only; for a key whose write is signed after
// the close (a late one, counted as such), the write that was the key's
// winner at the close is read from the key's past (Space.WinnerAt) and
// counted in its place, unless it was deleted or its payload is gone
// (erased, or dropped by retention): then nothing can bring it back and
// the person's vote does not count. A key deleted after the close is
// read so too (the delete is late: the vote held at the close counts).
func readPoll(ctx context.Context, sp *space.Space, ro roster, e poll.Entry) (Poll, error) {
	d, err := poll.DecodePoll(e.Key, e.Author, e.Value)
	if err != nil {
		return Poll{}, err
	}
	closes := poll.TimeOf(d.Closes)
	at := commit.HLC{Wall: closes.Wall, Logical: closes.Logical}
	var rangeErr error
	votes := func(yield func(poll.Entry) bool) {
		for kv, err := range sp.Winners(ctx, []byte(poll.VotePrefix+d.ID+"/")) {
			if err != nil {
				rangeErr = err
				return
			}
			if !kv.Entry.Tombstone() && !yield(pollEntryOf(kv)) {
				return
			}
			if kv.Entry.Time.Compare(at) <= 0 {
				continue
			}
			w, ok, err := sp.WinnerAt(ctx, kv.Key, at)
			if err != nil {
				rangeErr = err
				return
			}
			if ok && !yield(pollEntryOf(store.KV{Key: kv.Key, Entry: w})) {
				return
			}
		}
	}
	r, err := poll.ReadOne(e, votes, func(author string) string { return ro.persons[author] })
	if err == nil {
		err = rangeErr
	}
	if err != nil {
		return Poll{}, err
	}
	return pollOf(r, ro, time.Now()), nil
}

func pollOf(r poll.Result, ro roster, now time.Time) Poll {
	p := Poll{
		Key: r.Key, ID: r.ID, Author: r.Author, Person: ro.persons[r.Author], Question: r.Question,
		Options: r.Options, Closes: r.Closes, Closed: now.After(r.Closes), Ballot: "open",
		Counts: r.Tally.Counts, Signed: r.Signed, Late: r.Tally.Late, Invalid: r.Tally.Invalid, Ignored: r.Ignored,
		Rule: PollRule,
	}
	p.Name = ro.names[p.Person]
	if r.Secret {
		p.Ballot = "secret"
	}
	for _, c := range r.Tally.Counts {
		p.Counted += c
	}
	for _, v := range r.Votes {
		p.Votes = append(p.Votes, PollVote{Person: v.Person, Name: ro.names[v.Person], Option: v.Option, At: v.At})
	}
	return p
}

// Polls lists the newest polls of space sp with their tallies.
func (c *Client) Polls(ctx context.Context, sp string) ([]Poll, error) {
	return callFor[[]Poll](ctx, c, http.MethodGet, spacePath(sp, "/polls"), nil)
}

// Poll reads poll id (MS-AUTHOR) of space sp with its tally.
func (c *Client) Poll(ctx context.Context, sp, id string) (Poll, error) {
	return callFor[Poll](ctx, c, http.MethodGet, spacePath(sp, "/polls/"+url.PathEscape(strings.TrimPrefix(id, poll.PollPrefix))), nil)
}
