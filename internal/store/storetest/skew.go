package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// GenSkewed draws a history whose clocks do not follow causality: each
// author's times only grow along its own chain (all the store checks),
// from a base drawn up to ten minutes apart, so a commit is often dated
// before the deps it names. Three to five authors, the first two admins;
// one admin commit in three grants another author a role or revokes it
// at a random seq; everyone writes to four keys. acl.Evaluate's decision
// order then follows the deps, not the times: whatever orders commits by
// time must not.
func GenSkewed(r *rand.Rand) *History {
	seed := func() (s [32]byte) {
		for i := range s {
			s[i] = byte(r.IntN(256))
		}
		return s
	}
	sk := keys.SpaceKeyFromSeed(seed())
	sp := sk.Space()
	h := &History{SpaceKey: sk}
	n := 3 + r.IntN(3)
	as := make([]keys.DeviceKey, n)
	var grants []commit.Op
	for i := range as {
		as[i] = keys.DeviceKeyFromSeed(seed())
		role := commit.RoleWrite
		if i < 2 {
			role = commit.RoleAdmin
		}
		grants = append(grants, commit.GrantOp(commit.Grant{Subject: as[i].Author(), Role: role}))
	}
	h.Authors = as
	base := uint64(time.Now().Add(-time.Hour).UnixMicro())
	genesis := must(commit.Build(commit.Header{Space: sp, Author: sk.Author(), Seq: 1, Time: commit.HLC{Wall: base}}, grants, sk))
	h.Commits = append(h.Commits, genesis)
	last := make([]*commit.Commit, n)                   // each author's latest commit
	clock := make([]uint64, n)                          // each author's clock
	known := make([]map[keys.AuthorID]keys.CommitID, n) // heads each author learnt since its last commit
	for i := range as {
		clock[i] = base + 1 + uint64(r.IntN(600_000_000))
		known[i] = map[keys.AuthorID]keys.CommitID{genesis.Author: genesis.ID}
	}
	for range 30 + r.IntN(60) {
		i := r.IntN(n)
		clock[i] += 1 + uint64(r.IntN(1000))
		hd := commit.Header{Space: sp, Author: as[i].Author(), Seq: 1, Time: commit.HLC{Wall: clock[i]}}
		if last[i] != nil {
			hd.Seq, hd.Prev = last[i].Seq+1, last[i].ID
		}
		for _, id := range known[i] {
			hd.Deps = append(hd.Deps, id)
		}
		slices.SortFunc(hd.Deps, func(x, y keys.CommitID) int { return bytes.Compare(x[:], y[:]) })
		op := commit.Put(fmt.Appendf(nil, "k/%d", r.IntN(4)), fmt.Appendf(nil, "%d", r.Uint32()))
		if j := r.IntN(n); i < 2 && j != i && r.IntN(3) == 0 {
			if last[j] != nil && r.IntN(2) == 0 {
				op = commit.RevokeOp(commit.Revoke{Author: as[j].Author(), LastSeq: uint64(r.IntN(int(last[j].Seq) + 1))})
			} else {
				op = commit.GrantOp(commit.Grant{Subject: as[j].Author(), Role: commit.Role(1 + r.IntN(3))})
			}
		}
		c := must(commit.Build(hd, []commit.Op{op}, as[i]))
		h.Commits = append(h.Commits, c)
		last[i] = c
		known[i] = map[keys.AuthorID]keys.CommitID{}
		for j := range as { // some learn of it
			if j != i && r.IntN(2) == 0 {
				known[j][c.Author] = c.ID
			}
		}
	}
	return h
}
