// Package ackcheck is the fault suite's acknowledged-write checker: the one
// oracle every fault test (partitions, lossy links, power loss, kill -9,
// floods, full disks, clock skew) uses to say whether Loam kept its
// promise (docs/reliability.md).
//
// A test records every write it made: acknowledged (the client was told
// it is durable), or in doubt (the call failed or timed out, so the write
// may or may not have happened). At the end it asks the checker about
// every replica. The checker passes when, for every key written:
//
//   - every replica shows the same winner (the same write, or the same
//     absence);
//   - the winner is a write the test made: acknowledged or in doubt, never
//     a value nobody wrote and never an older write brought back;
//   - no acknowledged write is lost: the winner is at least as new as the
//     newest acknowledged write of the key (by version, when the test knows
//     versions; without them, by the order of one sequential writer's
//     writes, Write.Order, and a key no delete can have won must show a
//     value).
//
// Writes are told apart by value: a test gives every write its own value
// (Unique makes one). Deletes are writes with Deleted set; a replica shows
// a deleted key as absent.
//
// The package imports nothing of the project, so that tests at every layer
// (the store, in-process nodes, daemons driven through their API) can use
// it with their own Replica.
package ackcheck

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Version orders writes as Loam's last-writer-wins rule does: by hybrid
// logical time, then author, seq and op index. The zero Version means
// unknown.
type Version struct {
	Wall    uint64 // HLC wall time (microseconds)
	Logical uint64
	Author  string
	Seq     uint64
	Op      uint32
}

// Known reports whether v was set.
func (v Version) Known() bool { return v != Version{} }

// Compare orders versions as LWW does.
func (v Version) Compare(w Version) int {
	return cmp.Or(cmp.Compare(v.Wall, w.Wall), cmp.Compare(v.Logical, w.Logical),
		strings.Compare(v.Author, w.Author), cmp.Compare(v.Seq, w.Seq), cmp.Compare(v.Op, w.Op))
}

func (v Version) String() string {
	if !v.Known() {
		return "version unknown"
	}
	return fmt.Sprintf("%d.%d/%s/%d/%d", v.Wall, v.Logical, v.Author, v.Seq, v.Op)
}

// Write is one write a test made.
type Write struct {
	Space   string // a space ID or name, as the test's replicas understand it
	Key     string
	Value   string // unique among the writes of the test
	Deleted bool   // a delete: Value is ignored
	Writer  string // who wrote it (a node name), for messages
	// Version, when known (in-process writers get it from the commit),
	// lets the checker decide the winner among several writes of a key.
	Version Version
	// Order, when Version is unknown, is the place of this write among
	// its Writer's writes (1, 2, 3, …) if the writer makes them one at a
	// time, each acknowledged or given up on before the next starts, on
	// one device (a daemon through its API, say); 0 when unknown. A
	// device's clock never runs backwards, so of two acknowledged writes
	// of such a writer to a key the later one wins: a replica that shows
	// the earlier has lost the later. (A write in doubt may have been
	// applied after the writer gave up on it, so after its next writes:
	// it is never judged older than them.)
	Order uint64
}

func (w Write) String() string {
	what := fmt.Sprintf("put %q", w.Value)
	if w.Deleted {
		what = "delete"
	}
	return fmt.Sprintf("%s %s/%s by %s (%s)", what, w.Space, w.Key, w.Writer, w.Version)
}

// Entry is what a replica shows for a key.
type Entry struct {
	Found   bool   // false: the key is absent (never written, or deleted)
	Value   string // when Found
	Version Version
}

// Replica is one copy of the data to check.
type Replica interface {
	// Name names the replica in failures.
	Name() string
	// Get returns the visible winner of key in space.
	Get(ctx context.Context, space, key string) (Entry, error)
}

// Checker records writes. It is safe for concurrent use.
type Checker struct {
	mu     sync.Mutex
	acked  []Write // guarded by mu
	doubt  []Write // guarded by mu
	values map[string]bool
	n      int
}

// New returns an empty checker.
func New() *Checker { return &Checker{values: map[string]bool{}} }

// Unique returns a value no other call of this checker returns, naming
// the writer: for tests that need a fresh value per write.
func (c *Checker) Unique(writer string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return fmt.Sprintf("%s#%d", writer, c.n)
}

// Acked records a write the client was told is durable.
func (c *Checker) Acked(w Write) { c.add(w, true) }

// InDoubt records a write whose outcome the client does not know (the
// call failed or timed out): it may be present or not.
func (c *Checker) InDoubt(w Write) { c.add(w, false) }

func (c *Checker) add(w Write, acked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !w.Deleted {
		if c.values[w.Value] {
			panic(fmt.Sprintf("ackcheck: value %q written twice: give every write its own value (Checker.Unique)", w.Value))
		}
		c.values[w.Value] = true
	}
	if acked {
		c.acked = append(c.acked, w)
	} else {
		c.doubt = append(c.doubt, w)
	}
}

// Acknowledged returns how many acknowledged writes were recorded.
func (c *Checker) Acknowledged() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

type spaceKey struct{ space, key string }

// Check reads every written key from every replica and returns an error
// listing every broken promise (at most 20, then a count), or nil.
func (c *Checker) Check(ctx context.Context, replicas ...Replica) error {
	c.mu.Lock()
	acked := slices.Clone(c.acked)
	doubt := slices.Clone(c.doubt)
	c.mu.Unlock()
	if len(replicas) == 0 {
		return fmt.Errorf("ackcheck: no replica to check")
	}
	type writes struct{ acked, doubt []Write }
	byKey := map[spaceKey]*writes{}
	var order []spaceKey
	get := func(w Write) *writes {
		k := spaceKey{w.Space, w.Key}
		if byKey[k] == nil {
			byKey[k] = &writes{}
			order = append(order, k)
		}
		return byKey[k]
	}
	for _, w := range acked {
		get(w).acked = append(get(w).acked, w)
	}
	for _, w := range doubt {
		get(w).doubt = append(get(w).doubt, w)
	}
	var fails []string
	fail := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	for _, k := range order {
		ws := byKey[k]
		var first Entry
		for i, r := range replicas {
			e, err := r.Get(ctx, k.space, k.key)
			if err != nil {
				fail("%s: %s/%s: %v", r.Name(), k.space, k.key, err)
				continue
			}
			if i == 0 {
				first = e
			} else if e.Found != first.Found || e.Value != first.Value {
				fail("%s/%s: replicas disagree: %s shows %s, %s shows %s", k.space, k.key, replicas[0].Name(), show(first), r.Name(), show(e))
			}
			if why := judge(e, ws.acked, ws.doubt); why != "" {
				fail("%s: %s/%s: %s", r.Name(), k.space, k.key, why)
			}
		}
	}
	if len(fails) == 0 {
		return nil
	}
	msg := fmt.Sprintf("ackcheck: %d acknowledged and %d in-doubt writes on %d keys, %d replicas: %d failures:", len(acked), len(doubt), len(order), len(replicas), len(fails))
	for i, f := range fails {
		if i == 20 {
			msg += fmt.Sprintf("\n  … and %d more", len(fails)-20)
			break
		}
		msg += "\n  " + f
	}
	return fmt.Errorf("%s", msg)
}

func show(e Entry) string {
	if !e.Found {
		return "no value"
	}
	return fmt.Sprintf("%q (%s)", e.Value, e.Version)
}

// judge says what is wrong with entry e of a key with these writes, or "".
func judge(e Entry, acked, doubt []Write) string {
	// The write the replica shows, if the test made it.
	var shown *Write
	if e.Found {
		for i := range acked {
			if !acked[i].Deleted && acked[i].Value == e.Value {
				shown = &acked[i]
			}
		}
		for i := range doubt {
			if !doubt[i].Deleted && doubt[i].Value == e.Value {
				shown = &doubt[i]
			}
		}
	}
	if e.Found && shown == nil {
		return fmt.Sprintf("shows %s, which no write of the test wrote", show(e))
	}
	if len(acked) == 0 {
		return "" // only writes in doubt: any of them, or none, may show
	}
	versioned := true
	for _, w := range acked {
		versioned = versioned && w.Version.Known()
	}
	if !versioned {
		return judgeUnversioned(e, shown, acked, doubt)
	}
	newest := acked[0]
	for _, w := range acked[1:] {
		if w.Version.Compare(newest.Version) > 0 {
			newest = w
		}
	}
	if !e.Found {
		if newest.Deleted {
			return ""
		}
		for _, w := range doubt {
			if w.Deleted && (!w.Version.Known() || w.Version.Compare(newest.Version) > 0) {
				return ""
			}
		}
		return fmt.Sprintf("lost acknowledged %s: the key is absent", newest)
	}
	v := shown.Version
	if !v.Known() {
		v = e.Version
	}
	if !v.Known() {
		return fmt.Sprintf("shows %q without a version, but the acknowledged writes have versions", e.Value)
	}
	if c := v.Compare(newest.Version); c < 0 || c == 0 && shown.Value != newest.Value {
		return fmt.Sprintf("lost acknowledged %s: shows older %s", newest, show(e))
	}
	return ""
}

// judgeUnversioned judges entry e, showing write shown (nil if absent), of
// a key whose acknowledged writes have no versions. Any write may win
// except an acknowledged one that its own sequential writer overwrote
// later with another acknowledged write (Write.Order).
func judgeUnversioned(e Entry, shown *Write, acked, doubt []Write) string {
	// later returns an acknowledged write of w's writer made after w, if
	// w was acknowledged.
	later := func(w Write) (Write, bool) {
		if w.Order == 0 || !slices.Contains(acked, w) {
			return Write{}, false
		}
		for _, a := range acked {
			if a.Writer == w.Writer && a.Order > w.Order {
				return a, true
			}
		}
		return Write{}, false
	}
	if e.Found {
		if a, ok := later(*shown); ok {
			return fmt.Sprintf("lost acknowledged %s: shows %s, which its writer overwrote before", a, show(e))
		}
		return ""
	}
	// Absent: some delete must be able to win.
	for _, d := range append(slices.Clone(acked), doubt...) {
		if _, ok := later(d); d.Deleted && !ok {
			return ""
		}
	}
	var newest Write
	for _, a := range acked {
		if !a.Deleted && a.Order >= newest.Order {
			newest = a
		}
	}
	return fmt.Sprintf("lost acknowledged %s: the key is absent, and no delete can have won", newest)
}
