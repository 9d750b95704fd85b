package store_test

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// TestPropertyTwoLevelEvaluate: over random histories without app rules
// (GenRevokes, GenPeopleRevokes, GenACL's with its schema declarations
// left out, and GenSkewed's clocks that do not follow causality), acl.EvaluateControl over the control commits
// in decision order, then acl.DecideData over each data-only commit,
// decide as acl.Evaluate over the whole set: the same commits invalid
// with the same reasons, cuts, revocations, grants and joins.
func TestPropertyTwoLevelEvaluate(t *testing.T) {
	var control, data int
	rapid.Check(t, func(rt *rapid.T) {
		h, _ := drawRevokeHistory(rt)
		if rapid.IntRange(0, 3).Draw(rt, "skewed") == 0 {
			h, _ = drawSkewed(rt)
		}
		cs := withoutRules(h.Commits)
		sp := h.Space()
		want := acl.Evaluate(sp, cs, nil)
		var ctl []acl.Placed
		all := acl.Placements(cs)
		for _, p := range all {
			if !acl.DataOnly(p.C) {
				ctl = append(ctl, p)
			}
		}
		got := acl.EvaluateControl(sp, ctl, nil)
		st := got.State(sp)
		for _, p := range all {
			if acl.DataOnly(p.C) {
				if why := acl.DecideData(st, got, p.C, p.Seen, nil); why != nil {
					got.Invalid[acl.Loc{Author: p.C.Author, Seq: p.C.Seq}] = why
				}
			}
		}
		control += len(ctl)
		data += len(all) - len(ctl)
		if a, b := decisionText(got), decisionText(want); a != b {
			rt.Fatalf("two levels:\n%s\nEvaluate:\n%s", a, b)
		}
	})
	t.Logf("%d control commits, %d data-only commits decided", control, data)
}

// withoutRules is cs without the commits that declare app rules, nor
// those of their authors after them (each author's commits stay
// contiguous from seq 1).
func withoutRules(cs []*commit.Commit) []*commit.Commit {
	from := map[keys.AuthorID]uint64{}
	for _, c := range cs {
		if slices.ContainsFunc(c.Ops, func(o commit.Op) bool { return o.Kind == commit.KindSchema }) {
			if f, ok := from[c.Author]; !ok || c.Seq < f {
				from[c.Author] = c.Seq
			}
		}
	}
	var out []*commit.Commit
	for _, c := range cs {
		if f, ok := from[c.Author]; !ok || c.Seq < f {
			out = append(out, c)
		}
	}
	return out
}

// decisionText prints what a decision says, sorted.
func decisionText(d *acl.Decision) string {
	var lines []string
	for l, why := range d.Invalid {
		lines = append(lines, fmt.Sprintf("invalid %s %d: %v", l.Author, l.Seq, why))
	}
	for a, c := range d.Cuts {
		lines = append(lines, fmt.Sprintf("cut %s %d", a, c))
	}
	for a, js := range d.Joined {
		lines = append(lines, fmt.Sprintf("joined %s %v", a, js))
	}
	slices.Sort(lines)
	return fmt.Sprint(lines, "\nrevocations ", d.Revocations, "\ngrants ", d.Grants, d.People, d.Certs, "\nschemas ", d.Schemas)
}
