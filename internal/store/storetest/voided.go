package storetest

import (
	"math/rand/v2"
	"slices"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// AddVoidedErase appends to h (a GenHistory, its authors' clocks at the
// end) an erase by a random author other than the admin of some of its
// own writes, and the admin's concurrent revocation of that author just
// below the erase: the revocation has not seen the erase, and the erase
// does not count. Replicas apply the two in either order. It reports
// false, adding nothing, when no such author has written.
func (h *History) AddVoidedErase(r *rand.Rand) bool {
	if len(h.Authors) < 2 {
		return false
	}
	latest, last := h.Ends()
	admin := h.Authors[0]
	if latest[admin.Author()] == nil {
		return false
	}
	for _, i := range r.Perm(len(h.Authors) - 1) {
		k := h.Authors[i+1]
		prev := latest[k.Author()]
		if prev == nil {
			continue
		}
		var ts []commit.EraseTarget
		for _, c := range h.Commits {
			if c.Author != k.Author() {
				continue
			}
			for j, o := range c.Ops {
				if o.Kind.IsData() && (len(ts) == 0 || r.IntN(2) == 0) && len(ts) < commit.MaxEraseTargets {
					ts = append(ts, commit.EraseTarget{Author: c.Author, Seq: c.Seq, ID: c.ID, Op: uint32(j), Key: o.Key})
				}
			}
		}
		if len(ts) == 0 {
			continue
		}
		hd := commit.Header{Space: h.Space(), Author: k.Author(), Seq: prev.Seq + 1, Prev: prev.ID, Time: commit.HLC{Wall: last.Wall + 1000}}
		for au, c := range latest {
			if au != k.Author() {
				hd.Deps = append(hd.Deps, c.ID)
			}
		}
		slices.SortFunc(hd.Deps, func(a, b keys.CommitID) int { return slices.Compare(a[:], b[:]) })
		erase := must(commit.Build(hd, []commit.Op{must(commit.EraseOp(commit.Erase{Targets: ts}))}, k))
		ap := latest[admin.Author()]
		rev := must(commit.Build(commit.Header{
			Space: h.Space(), Author: admin.Author(), Seq: ap.Seq + 1, Prev: ap.ID,
			Time: commit.HLC{Wall: last.Wall + 2000}, Deps: []keys.CommitID{prev.ID},
		}, []commit.Op{commit.RevokeOp(commit.Revoke{Author: k.Author(), LastSeq: prev.Seq})}, admin))
		h.add(erase)
		h.add(rev)
		return true
	}
	return false
}

// Ends returns the latest commit of each author of h and the latest
// commit time.
func (h *History) Ends() (latest map[keys.AuthorID]*commit.Commit, last commit.HLC) {
	latest = map[keys.AuthorID]*commit.Commit{}
	for _, c := range h.Commits {
		if l := latest[c.Author]; l == nil || c.Seq > l.Seq {
			latest[c.Author] = c
		}
		if last.Less(c.Time) {
			last = c.Time
		}
	}
	return latest, last
}
