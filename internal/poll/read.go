package poll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The board's poll layout (docs/apps.md, "Community board"):
//
//	board/poll/MS-AUTHOR     {"question", "options": [2..16], "closes": RFC 3339, "ballot": "open"|"secret"}
//	board/vote/POLL/IDT      {"option": index}
//
// POLL is the poll key's last segment (MS-AUTHOR); IDT the voter's
// identity, which must have certified the device that signed the vote.

// Key prefixes of the layout.
const (
	PollPrefix = "board/poll/"
	VotePrefix = "board/vote/"
)

// Bounds on what Read decodes: a value past them is not a poll or a vote.
const (
	MaxPollValue = 8 << 10
	MaxVoteValue = 256
	MaxOptions   = 16
	maxQuestion  = 200
	maxOption    = 100
)

// Entry is one visible key of a space, as the reader needs it: its key,
// the device that signed its write (an author ID, aut_…), the signed time
// of that write, and its value (nil when deleted or erased).
type Entry struct {
	Key    string
	Author string
	At     Time
	Value  []byte
}

// Persons tells which person (idt_…) certified a device (aut_…), "" for
// none: the space's roster.
type Persons func(author string) string

// Result is one poll read from a space, with its tally.
type Result struct {
	Key      string // board/poll/MS-AUTHOR
	ID       string // MS-AUTHOR, the POLL segment of its votes' keys
	Author   string // the device that signed it (the key's AUTHOR)
	Question string
	Options  []string
	Closes   time.Time
	Secret   bool
	Tally    Tally
	// Votes are the counted votes (person and signed time), by person;
	// for a secret ballot the reader leaves them out: only counts are
	// shown.
	Votes []Counted
	// Signed is the votes held whose signer is a device of the person
	// the key names: the tally is verified from them.
	Signed int
	// Ignored is the vote keys that are not a vote: a signer who is not
	// a device of the person the key names, or a value that is not
	// {"option": n}.
	Ignored int
}

// Counted is one counted vote of an open ballot.
type Counted struct {
	Person string
	Option int
	At     time.Time
}

// errNotPoll is wrapped by DecodePoll's errors, for a key or value that is not a
// poll of the layout.
var errNotPoll = errors.New("poll: not a poll")

// Read returns the polls among entries with their tallies, newest first
// (by key: MS is the author's clock). entries may hold any keys: the
// reader takes board/poll/ and board/vote/ ones and ignores the rest.
// A poll key whose AUTHOR is not its signer, and a vote whose signer was
// not certified by the IDT its key names, are ignored, whether or not the
// space's app rules refused them already: in a space without rules (a
// private one) the reader is what keeps a member from voting as another.
func Read(entries []Entry, persons Persons) []Result {
	votes := map[string][]Entry{}
	var out []Result
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Key, VotePrefix):
			rest := e.Key[len(VotePrefix):]
			if i := strings.IndexByte(rest, '/'); i > 0 {
				votes[rest[:i]] = append(votes[rest[:i]], e)
			}
		case strings.HasPrefix(e.Key, PollPrefix):
			if r, err := DecodePoll(e.Key, e.Author, e.Value); err == nil {
				out = append(out, r)
			}
		}
	}
	for i := range out {
		out[i].count(slices.Values(votes[out[i].ID]), persons)
	}
	slices.SortFunc(out, func(a, b Result) int { return strings.Compare(b.Key, a.Key) })
	return out
}

// ReadOne reads the poll written in entry poll, counting the entries of
// votes (those under VotePrefix+ID+"/"; others are skipped). It keeps
// only the votes that verify, and counts at most one per person of the
// roster (Count), however many keys votes yields. votes may yield several
// writes of one key: a reader whose view holds a key's write signed after
// the close gives it (counted late) and the write the key held at the
// close (counted), as the API does. An error wraps errNotPoll if poll is
// not one.
func ReadOne(poll Entry, votes iter.Seq[Entry], persons Persons) (Result, error) {
	r, err := DecodePoll(poll.Key, poll.Author, poll.Value)
	if err != nil {
		return Result{}, err
	}
	r.count(votes, persons)
	return r, nil
}

func (r *Result) count(entries iter.Seq[Entry], persons Persons) {
	prefix := VotePrefix + r.ID + "/"
	var vs []Vote
	for e := range entries {
		idt, ok := strings.CutPrefix(e.Key, prefix)
		if !ok || e.Value == nil {
			continue
		}
		o, err := DecodeVote(e.Value)
		if err != nil || idt == "" || strings.Contains(idt, "/") || persons == nil || persons(e.Author) != idt {
			r.Ignored++
			continue
		}
		vs = append(vs, Vote{By: idt, Option: o, At: e.At})
	}
	r.Signed = len(vs)
	r.Tally = Count(Poll{Options: r.Options, Closes: TimeOf(r.Closes)}, vs)
	if r.Secret {
		r.Tally.Ballots = nil
		return
	}
	for _, v := range vs {
		if o, ok := r.Tally.Ballots[v.By]; ok && o == v.Option && v.At.Compare(TimeOf(r.Closes)) <= 0 {
			r.Votes = append(r.Votes, Counted{Person: v.By, Option: o, At: v.At.Time()})
		}
	}
	slices.SortFunc(r.Votes, func(a, b Counted) int { return strings.Compare(a.Person, b.Person) })
	r.Votes = slices.CompactFunc(r.Votes, func(a, b Counted) bool { return a.Person == b.Person })
}

// TimeOf converts a wall time to a signed time (its microsecond, logical
// 0).
func TimeOf(t time.Time) Time { return Time{Wall: uint64(max(t.UnixMicro(), 0))} }

// Time returns t's wall time.
func (a Time) Time() time.Time { return time.UnixMicro(int64(a.Wall)).UTC() }

// pollValue is a poll's value; unknown fields are allowed (the layouts
// grow without a new version).
type pollValue struct {
	Question *string  `json:"question"`
	Options  []string `json:"options"`
	Closes   *string  `json:"closes"`
	Ballot   string   `json:"ballot"`
}

// DecodePoll decodes the poll written under key by author: key must be
// board/poll/MS-AUTHOR with AUTHOR the signer, the value at most
// MaxPollValue bytes of a JSON object with a question (1..200 bytes), 2
// to 16 options (1..100 bytes each), an RFC 3339 closing time, and a
// ballot "open" (the default) or "secret". Anything else wraps errNotPoll.
func DecodePoll(key, author string, value []byte) (Result, error) {
	id, ok := strings.CutPrefix(key, PollPrefix)
	if !ok || strings.Contains(id, "/") {
		return Result{}, fmt.Errorf("%w: %q is not under %s", errNotPoll, key, PollPrefix)
	}
	if ms, au, ok := strings.Cut(id, "-"); !ok || len(ms) != 13 || strings.Trim(ms, "0123456789") != "" || au != author {
		return Result{}, fmt.Errorf("%w: key %q is not %sMS-AUTHOR signed by its AUTHOR %s", errNotPoll, key, PollPrefix, author)
	}
	if len(value) > MaxPollValue {
		return Result{}, fmt.Errorf("%w: its value is %d bytes, over %d", errNotPoll, len(value), MaxPollValue)
	}
	var v pollValue
	if err := json.Unmarshal(value, &v); err != nil {
		return Result{}, fmt.Errorf("%w: %v", errNotPoll, err)
	}
	switch {
	case v.Question == nil || !text(*v.Question, maxQuestion):
		return Result{}, fmt.Errorf("%w: its question is missing or not 1 to %d bytes of text", errNotPoll, maxQuestion)
	case len(v.Options) < 2 || len(v.Options) > MaxOptions:
		return Result{}, fmt.Errorf("%w: it has %d options, not 2 to %d", errNotPoll, len(v.Options), MaxOptions)
	case v.Closes == nil:
		return Result{}, fmt.Errorf("%w: its closing time is missing", errNotPoll)
	case v.Ballot != "" && v.Ballot != "open" && v.Ballot != "secret":
		return Result{}, fmt.Errorf("%w: its ballot is %q, not open or secret", errNotPoll, v.Ballot)
	}
	for _, o := range v.Options {
		if !text(o, maxOption) {
			return Result{}, fmt.Errorf("%w: an option is not 1 to %d bytes of text", errNotPoll, maxOption)
		}
	}
	closes, err := time.Parse(time.RFC3339Nano, *v.Closes)
	if err != nil {
		return Result{}, fmt.Errorf("%w: its closing time: %v", errNotPoll, err)
	}
	return Result{Key: key, ID: id, Author: author, Question: *v.Question, Options: v.Options, Closes: closes.UTC(), Secret: v.Ballot == "secret"}, nil
}

func text(s string, max int) bool { return s != "" && len(s) <= max && utf8.ValidString(s) }

// DecodeVote decodes a vote's value, {"option": n} with n a whole number
// from 0 to 15, at most MaxVoteValue bytes (unknown fields allowed).
func DecodeVote(value []byte) (int, error) {
	if len(value) > MaxVoteValue {
		return 0, fmt.Errorf("poll: a vote of %d bytes, over %d", len(value), MaxVoteValue)
	}
	var v struct {
		Option json.RawMessage `json:"option"`
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&v); err != nil {
		return 0, fmt.Errorf("poll: a vote: %w", err)
	}
	if dec.More() {
		return 0, errors.New("poll: a vote has data after its JSON object")
	}
	if v.Option == nil {
		return 0, errors.New(`poll: a vote without "option"`)
	}
	n, err := strconv.Atoi(string(v.Option))
	if err != nil || n < 0 || n >= MaxOptions {
		return 0, fmt.Errorf("poll: a vote's option %s is not a whole number from 0 to %d", v.Option, MaxOptions-1)
	}
	return n, nil
}
