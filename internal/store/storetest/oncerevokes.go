package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/loamdb/loam/internal/commit"
)

// onceBodies are the app rules GenOnceRevokes's admins declare for the app
// "o": two different write-once bodies (each new to a store that has not
// watched it) and a body without once rules.
var onceBodies = []string{
	`{"prefix":"o/","rules":[{"key":"o/{x}","write":"anyone","once":true}]}`,
	`{"prefix":"o/","rules":[{"key":"o/pin/{n}","write":"anyone"},{"key":"o/{x}","write":"anyone","once":true}]}`,
	`{"prefix":"o/","rules":[{"key":"o/{x}","write":"anyone"}]}`,
}

// GenOnceRevokes generates a history of writers and two admins for
// write-once rules (#15) under revocations (#16). Mostly the first admin
// declares a write-once rule for the app "o" first, and everyone learns
// it; then the admins declare the rules of "o" again (write-once or not)
// at random points, at times in a commit that revokes, and the first
// admin (the second seldom) revokes writers, or at times anyone, at the
// seq it knows of them or lower. Everyone puts and deletes keys of "o/",
// often one it saw another write (a rewrite, which a once rule refuses),
// and of "k/". It exercises the tracked writes of a store deciding
// commits as they arrive: a cut voiding a write that a once rule counted,
// a declaration new to the store in a batch with a revocation.
func GenOnceRevokes(r *rand.Rand, g Gen) *History {
	h, as, phys := adminsAndWriters(r, g)
	revoke := func(a, t *author) commit.Op { return revokeOp(r, a, t, 2) }
	version := uint64(0)
	declare := func(body string) commit.Op {
		version++
		return commit.SchemaOp(commit.Schema{App: "o", Version: version, Body: []byte(body)})
	}
	writes := func(a *author) []commit.Op {
		var out []commit.Op
		for i := range 1 + r.IntN(g.MaxBatch) {
			key := fmt.Appendf(nil, "o/%d", r.IntN(2+g.Keys))
			if k := seenOnce(h, a); k != nil && r.IntN(2) == 0 {
				key = k // a rewrite, which a once rule refuses
			}
			if r.IntN(3) == 0 {
				key = fmt.Appendf(nil, "k/%02d", r.IntN(g.Keys))
			}
			if r.IntN(3) == 0 {
				out = append(out, commit.Del(key))
			} else {
				out = append(out, commit.Put(key, fmt.Appendf(nil, "%s:%d:%d", a.key.Author().Short(), a.seq+1, i)))
			}
		}
		return out
	}
	if r.IntN(3) != 0 { // mostly a once rule in force from the start, known to all
		c := as[0].build(h.Space(), phys, []commit.Op{declare(onceBodies[0])})
		h.add(c)
		as[0].wrote(c)
		for _, a := range as[1:] {
			a.learn(as[0])
		}
	}
	walk(r, g, h, as, phys, func(ai int, a *author) []commit.Op {
		var batch []commit.Op
		switch x := r.IntN(20); {
		case ai == 0 && x < 10, ai == 1 && x < 1: // the second admin seldom: concurrent revocations fall back
			t := as[2+r.IntN(len(as)-2)] // mostly a writer: its cut voids data only
			if r.IntN(4) == 0 {
				t = as[r.IntN(len(as))]
			}
			batch = append(batch, revoke(a, t))
			if r.IntN(6) == 0 {
				batch = append(batch, declare(onceBodies[r.IntN(len(onceBodies))]))
			}
		case ai == 0 && x < 12, ai == 1 && x < 5:
			batch = append(batch, declare(onceBodies[r.IntN(len(onceBodies))]))
		default:
			batch = writes(a)
		}
		return batch
	})
	return h
}

// seenOnce returns a key of "o/" that the latest commit a knows of another
// author wrote, if any (in h's author order, for a history that depends on
// the seed only).
func seenOnce(h *History, a *author) []byte {
	for _, k := range h.Authors {
		c := a.known[k.Author()]
		if c == nil || k.Author() == a.key.Author() {
			continue
		}
		for _, o := range c.Ops {
			if o.Kind.IsData() && bytes.HasPrefix(o.Key, []byte("o/")) {
				return o.Key
			}
		}
	}
	return nil
}
