package storetest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// GenRevokes generates a history of writers and two admins in which the
// admins revoke writers, and each other, at random points (at the seq
// they know of them), mostly in commits of their own with nothing else,
// sometimes with writes or a second revocation, sometimes granting; the
// revoked keep writing, to keys of a small pool (which conflict) and to
// keys of their own. It exercises re-deciding from the cut (#16) and
// every case where that falls back to deciding the whole space.
func GenRevokes(r *rand.Rand, g Gen) *History {
	h, as, phys := adminsAndWriters(r, g)
	revoke := func(a, t *author) commit.Op { return revokeOp(r, a, t, 4) }
	writes := func(a *author) []commit.Op { return revokedWrites(r, g, a) }
	walk(r, g, h, as, phys, func(ai int, a *author) []commit.Op {
		var batch []commit.Op
		if ai < 2 && r.IntN(3) == 0 {
			batch = append(batch, revoke(a, as[r.IntN(len(as))]))
			switch x := r.IntN(8); {
			case x == 0:
				batch = append(batch, revoke(a, as[r.IntN(len(as))]))
			case x == 1:
				batch = append(batch, writes(a)...)
			case x == 2:
				batch = append(batch, commit.GrantOp(commit.Grant{Subject: as[r.IntN(len(as))].key.Author(), Role: commit.RoleWrite, Prefix: []byte("k/")}))
			}
		} else {
			batch = writes(a)
		}
		return batch
	})
	return h
}

// adminsAndWriters starts a history whose genesis grants admin to two
// authors and write to g.Authors more (as, admins first), an hour ago;
// it returns the genesis time, from which the history's clock goes on.
func adminsAndWriters(r *rand.Rand, g Gen) (*History, []*author, uint64) {
	seed := seeds(r)
	h := newHistory(seed)
	base := uint64(time.Now().Add(-time.Hour).UnixMicro())
	var grants []commit.Op
	as := make([]*author, g.Authors+2)
	for i := range as {
		k := keys.DeviceKeyFromSeed(seed())
		h.Authors = append(h.Authors, k)
		role := commit.RoleWrite
		if i < 2 {
			role = commit.RoleAdmin
		}
		grants = append(grants, commit.GrantOp(commit.Grant{Subject: k.Author(), Role: role}))
		as[i] = newAuthor(r, k)
	}
	h.begin(base, grants, as)
	return h, as, base
}

// revokeOp is a's revocation of t, cut at the latest seq a knows of t or,
// one time in oneIn, lower (see lowered).
func revokeOp(r *rand.Rand, a, t *author, oneIn int) commit.Op {
	return commit.RevokeOp(commit.Revoke{Author: t.key.Author(), LastSeq: lowered(r, a.seqOf(t), oneIn)})
}

// lowered returns seq or, one time in oneIn when seq is above 0, a seq
// from 0 to seq: a cut below writes its revoker holds, which it voids.
// It draws from r in that order, so saved cases replay.
func lowered(r *rand.Rand, seq uint64, oneIn int) uint64 {
	if r.IntN(oneIn) == 0 && seq > 0 {
		seq -= uint64(r.IntN(int(seq) + 1))
	}
	return seq
}

// revokedWrites draws a's next writes, to keys of a small pool (which
// conflict) and to keys of its own.
func revokedWrites(r *rand.Rand, g Gen, a *author) []commit.Op {
	var out []commit.Op
	for i := range 1 + r.IntN(g.MaxBatch) {
		key := fmt.Appendf(nil, "k/%02d", r.IntN(g.Keys))
		if r.IntN(2) == 0 {
			key = fmt.Appendf(nil, "own/%s/%d/%d", a.key.Author().Short(), a.seq+1, i)
		}
		if r.IntN(6) == 0 {
			out = append(out, commit.Del(key))
		} else {
			out = append(out, commit.Put(key, fmt.Appendf(nil, "%s:%d:%d", a.key.Author().Short(), a.seq+1, i)))
		}
	}
	return out
}
