package store_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
	"github.com/loamdb/loam/internal/view"
)

func drawACLHistory(rt *rapid.T) (*storetest.History, *rand.Rand) {
	r, g := drawGen(rt, storetest.Gen{Authors: 3, Ops: 100, Keys: 3, MaxBatch: 1}, storetest.Gen{Authors: 6, Ops: 250, Keys: 20, MaxBatch: 4})
	return storetest.GenACL(r, g), r
}

// TestPropertyAuthorization: random histories of grants (roles, prefixes,
// expiry), revocations, invites and writes, delivered to replicas in any
// order with duplicates, in chunks, reopening the store between chunks,
// end with the same decision on every commit (which do not count, and
// why not) and the same view as the model: acl.Evaluate over the whole
// history, then LWW over the commits that count.
func TestPropertyAuthorization(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawACLHistory(rt)
		want, d := h.ExpectDecided()
		for range 2 {
			st := deliverReopening(rt, r, h.Space(), shuffledWithDuplicates(r, h.Commits))
			storetest.CheckModel(rt, st, h.Space(), want)
			voided, err := st.Voided(context.Background(), h.Space())
			if err != nil {
				rt.Fatal(err)
			}
			if len(voided) != len(d.Invalid) {
				rt.Fatalf("store voided %d commits, model %d", len(voided), len(d.Invalid))
			}
			for l := range d.Invalid {
				if _, ok := voided[l]; !ok {
					rt.Fatalf("store counts %s seq %d; model voids it: %v", l.Author.Short(), l.Seq, d.Invalid[l])
				}
			}
			st.Close()
		}
	})
}

// TestPropertyAuthorizationAtEveryStep: after every chunk delivered, not
// only at the end, the store's decisions and view are those of
// acl.Evaluate over exactly the commits it holds: the applier's quick
// decisions are exact, and re-deciding is done when needed.
func TestPropertyAuthorizationAtEveryStep(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawACLHistory(rt)
		ctx := context.Background()
		st, _ := propStore(rt, h.Space())
		check := func(s storetest.Store) storetest.Store {
			held := map[keys.CommitID]bool{}
			for sc, err := range s.(*store.Store).AllCommits(ctx, h.Space()) {
				if err != nil {
					rt.Fatal(err)
				}
				held[sc.ID] = true
			}
			want, d := h.ExpectDecidedOf(held)
			v, err := s.View(ctx, h.Space())
			if err != nil {
				rt.Fatal(err)
			}
			if v.Hash != want.Hash || v.Visible != want.Keys {
				rt.Fatalf("holding %d commits: view hash %s (%d keys), model %s (%d keys)", len(held), v.Hash, v.Visible, want.Hash, want.Keys)
			}
			voided, err := s.(*store.Store).Voided(ctx, h.Space())
			if err != nil {
				rt.Fatal(err)
			}
			if len(voided) != len(d.Invalid) {
				rt.Fatalf("holding %d commits: store voided %d, model %d", len(held), len(voided), len(d.Invalid))
			}
			return s
		}
		left := storetest.Deliver(rt, st, h.Space(), shuffledWithDuplicates(r, h.Commits), 1+r.IntN(10), check)
		if len(left) != 0 {
			rt.Fatalf("%d commits never applied", len(left))
		}
		check(st)
		st.Close()
	})
}

// TestPropertyEvaluateIsAFixpoint checks acl.Evaluate's decision against
// its rules, independently of how it is computed, and that it does not
// depend on the order the commits are given in:
//   - every accepted revocation's commit counts;
//   - no commit above its author's cut counts;
//   - every commit that counts is allowed by the grants of the commits
//     that count in its causal past;
//   - every other commit is cut, or not allowed so, or joins through an
//     invite beyond its uses;
//   - no invite admits more joiners than its grant allows.
func TestPropertyEvaluateIsAFixpoint(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawACLHistory(rt)
		sp := h.Space()
		d := acl.Evaluate(sp, h.Commits, nil)
		for range 3 {
			cs := slices.Clone(h.Commits)
			r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			if e := acl.Evaluate(sp, cs, nil); !e.Equal(d) {
				rt.Fatalf("Evaluate depends on the order of its input")
			}
		}
		byLoc := map[acl.Loc]*commit.Commit{}
		for _, c := range h.Commits {
			byLoc[acl.Loc{Author: c.Author, Seq: c.Seq}] = c
		}
		for _, rv := range d.Revocations {
			if !d.Valid(rv.By, rv.Seq) {
				rt.Fatalf("accepted revocation by %s seq %d does not count", rv.By.Short(), rv.Seq)
			}
		}
		valid := d.State(sp)
		limits := map[keys.AuthorID]uint32{}
		for _, c := range h.Commits {
			seen := func(au keys.AuthorID, seq uint64) bool {
				if au == c.Author {
					return seq < c.Seq
				}
				return view.VV(h.VVs[c.ID]).Saw(au, seq)
			}
			cut, isCut := d.Cuts[c.Author]
			v, err := valid.Check(c, seen)
			switch {
			case d.Valid(c.Author, c.Seq) && isCut && c.Seq > cut:
				rt.Fatalf("%s seq %d counts above its cut %d", c.Author.Short(), c.Seq, cut)
			case d.Valid(c.Author, c.Seq) && err != nil:
				rt.Fatalf("%s seq %d counts but is not allowed: %v", c.Author.Short(), c.Seq, err)
			case !d.Valid(c.Author, c.Seq) && !(isCut && c.Seq > cut) && err == nil && len(v.Uses) == 0:
				rt.Fatalf("%s seq %d does not count, yet is allowed, not cut and joins nothing", c.Author.Short(), c.Seq)
			case !d.Valid(c.Author, c.Seq) && errors.Is(d.Invalid[acl.Loc{Author: c.Author, Seq: c.Seq}], acl.ErrForked):
				rt.Fatalf("no fork, yet forked")
			}
			for _, u := range v.Uses {
				if d.Valid(c.Author, c.Seq) && u.Limit != 0 {
					limits[u.Invite] = u.Limit
				}
			}
		}
		for inv, lim := range limits {
			if n := len(d.Joined[inv]); n > int(lim) {
				rt.Fatalf("invite %s admitted %d joiners, allows %d", inv.Short(), n, lim)
			}
		}
		_ = byLoc
	})
}

// TestGenACLExercisesTheRules guards the generator: over a few seeds it
// must produce revocations that take effect, commits they void, and
// joins refused for lack of uses, or the property tests above prove
// little.
func TestGenACLExercisesTheRules(t *testing.T) {
	var revs, revoked, usedUp, denied, joins int
	var certs, people, devRevs, personRevs, personJoins int
	for s := range uint64(20) {
		h := storetest.GenACL(rand.New(rand.NewPCG(s, s)), storetest.Gen{Authors: 4, Ops: 200, Keys: 10, MaxBatch: 3})
		d := acl.Evaluate(h.Space(), h.Commits, nil)
		revs += len(d.Revocations)
		certs, people = certs+len(d.Certs), people+len(d.People)
		for _, g := range d.People {
			if !g.Invite.IsZero() {
				personJoins++
			}
		}
		for _, rv := range d.Revocations {
			switch {
			case rv.Person:
				personRevs++
			case !rv.Identity.IsZero():
				devRevs++
			}
		}
		for _, js := range d.Joined {
			joins += len(js)
		}
		for _, why := range d.Invalid {
			switch {
			case errors.Is(why, acl.ErrRevoked):
				revoked++
			case errors.Is(why, acl.ErrUsedUp):
				usedUp++
			case errors.Is(why, acl.ErrDenied):
				denied++
			}
		}
	}
	t.Logf("revocations %d, revoked commits %d, used-up joins %d, denied %d, joins %d", revs, revoked, usedUp, denied, joins)
	t.Logf("people (#12): certificates %d, person grants %d (%d joins through invites), device revocations %d, cuts of revoked people %d", certs, people, personJoins, devRevs, personRevs)
	if revs == 0 || revoked == 0 || usedUp == 0 || denied == 0 || joins == 0 || certs == 0 || people == 0 || devRevs == 0 || personRevs == 0 || personJoins == 0 {
		t.Fatalf("the generator does not exercise every rule")
	}
}

// TestPropertyPartitions: replicas on either side of a partition each hold
// what their side's authors wrote and saw (certificates, person grants,
// device and person revocations included), and decide exactly as
// acl.Evaluate over that; once the partition heals, in whichever order the
// rest arrives, every replica decides the same as the model.
func TestPropertyPartitions(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h, r := drawACLHistory(rt)
		ctx := context.Background()
		// A side: a random half of the authors, with the causal past of
		// everything they wrote.
		side := func() map[keys.CommitID]bool {
			seen := view.VV{}
			for _, c := range h.Commits {
				if c.Author[0]%2 == byte(r.IntN(2)) || r.IntN(3) == 0 {
					seen.Merge(h.VVs[c.ID])
				}
			}
			held := map[keys.CommitID]bool{}
			for _, c := range h.Commits {
				if seen.Saw(c.Author, c.Seq) {
					held[c.ID] = true
				}
			}
			return held
		}
		want, d := h.ExpectDecided()
		for range 2 {
			held := side()
			var mine, rest []*commit.Commit
			for _, c := range h.Commits {
				if held[c.ID] {
					mine = append(mine, c)
				} else {
					rest = append(rest, c)
				}
			}
			st, _ := propStore(rt, h.Space())
			same := func(s storetest.Store) storetest.Store { return s }
			if left := storetest.Deliver(rt, st, h.Space(), shuffledWithDuplicates(r, mine), 1+r.IntN(10), same); len(left) != 0 {
				rt.Fatalf("%d commits of one side never applied", len(left))
			}
			sideWant, sideD := h.ExpectDecidedOf(held)
			storetest.CheckModel(rt, st, h.Space(), sideWant)
			if voided, err := st.Voided(ctx, h.Space()); err != nil || len(voided) != len(sideD.Invalid) {
				rt.Fatalf("during the partition: store voids %d commits, model %d (%v)", len(voided), len(sideD.Invalid), err)
			}
			if left := storetest.Deliver(rt, st, h.Space(), shuffledWithDuplicates(r, rest), 1+r.IntN(10), same); len(left) != 0 {
				rt.Fatalf("%d commits never applied after the partition healed", len(left))
			}
			storetest.CheckModel(rt, st, h.Space(), want)
			voided, err := st.Voided(ctx, h.Space())
			if err != nil {
				rt.Fatal(err)
			}
			for l := range d.Invalid {
				if _, ok := voided[l]; !ok {
					rt.Fatalf("after the partition: store counts %s seq %d; model voids it: %v", l.Author.Short(), l.Seq, d.Invalid[l])
				}
			}
			if len(voided) != len(d.Invalid) {
				rt.Fatalf("after the partition: store voids %d commits, model %d", len(voided), len(d.Invalid))
			}
			st.Close()
		}
	})
}
