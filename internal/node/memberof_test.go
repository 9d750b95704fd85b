package node

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestMemberOfIsRoster: what Revoke finds of an author from the store's
// grants and cuts (memberOf) is what space.Roster lists of it, deciding
// every commit: member or not, invite key or not, joiners admitted, for
// every author, invite key and a stranger of random histories of grants,
// revocations, invites used up, people and their certificates
// (storetest.GenACL), stored in random chunks.
func TestMemberOfIsRoster(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, seed^0x5eed))
		h := storetest.GenACL(r, storetest.Gen{Authors: 3 + r.IntN(4), Ops: 60 + r.IntN(150), Keys: 6, MaxBatch: 3})
		sp := h.Space()
		st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddSpace(ctx, "s", sp); err != nil {
			t.Fatal(err)
		}
		for cs := h.Commits; len(cs) > 0; {
			n := min(len(cs), 1+r.IntN(8))
			if _, err := st.Apply(ctx, sp, cs[:n]); err != nil {
				t.Fatal(err)
			}
			cs = cs[n:]
		}
		ms, err := space.Members(ctx, st, sp)
		if err != nil {
			t.Fatal(err)
		}
		roster := map[keys.AuthorID]space.Member{}
		for _, m := range ms {
			roster[m.Author] = m
		}
		whos := []keys.AuthorID{keys.DeviceKeyFromSeed([32]byte{byte(seed), 0x57}).Author()}
		for _, k := range h.Authors {
			whos = append(whos, k.Author())
		}
		for _, c := range h.Commits {
			for _, o := range c.Ops {
				if g, err := commit.DecodeGrant(o); err == nil {
					whos = append(whos, g.Subject, g.Invite)
				}
			}
		}
		for _, who := range whos {
			if who.IsZero() || who == keys.AuthorID(sp) {
				continue
			}
			got, err := memberOf(ctx, st, sp, who)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := roster[who]
			want := member{found: ok, invite: m.Invite, joined: len(m.Joined)}
			if got != want {
				t.Fatalf("seed %d: %s: memberOf %+v, Roster %+v", seed, who.Short(), got, want)
			}
		}
		st.Close()
	}
}
