package storetest

import (
	"math/rand/v2"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// AddErases appends n erase commits to h (a GenHistory with its authors'
// clocks at the end): each by a random author, naming a random sample of
// the data ops in its causal past that it may erase, its own writes, or
// any write for the admin (GenHistory's first author). The erase commits
// depend on every author's latest commit, so each names only what its
// causal past holds.
func (h *History) AddErases(r *rand.Rand, n int) {
	if len(h.Authors) == 0 {
		return
	}
	latest := map[keys.AuthorID]*commit.Commit{}
	var last commit.HLC // after every commit's time: each erase sees all
	for _, c := range h.Commits {
		if l := latest[c.Author]; l == nil || c.Seq > l.Seq {
			latest[c.Author] = c
		}
		if last.Less(c.Time) {
			last = c.Time
		}
	}
	for range n {
		k := h.Authors[r.IntN(len(h.Authors))]
		admin := k.Author() == h.Authors[0].Author()
		var ts []commit.EraseTarget
		for _, c := range h.Commits {
			if c.Author != k.Author() && !admin {
				continue
			}
			for i, o := range c.Ops {
				if o.Kind.IsData() && r.IntN(4) == 0 {
					ts = append(ts, commit.EraseTarget{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: uint32(i), Key: o.Key})
				}
			}
		}
		if len(ts) == 0 {
			continue
		}
		if len(ts) > commit.MaxEraseTargets {
			ts = ts[:commit.MaxEraseTargets]
		}
		op := must(commit.EraseOp(commit.Erase{Targets: ts}))
		hd := commit.Header{Space: h.Space(), Author: k.Author(), Seq: 1}
		if p := latest[k.Author()]; p != nil {
			hd.Seq, hd.Prev = p.Seq+1, p.ID
		}
		for au, c := range latest {
			if au != k.Author() {
				hd.Deps = append(hd.Deps, c.ID)
			}
		}
		slices.SortFunc(hd.Deps, func(a, b keys.CommitID) int { return slices.Compare(a[:], b[:]) })
		last = commit.HLC{Wall: last.Wall + 1000}
		hd.Time = last
		c := must(commit.Build(hd, []commit.Op{op}, k))
		h.add(c)
		latest[k.Author()] = c
	}
}
