package space_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestPropertyRosterFromRows (#16): over random histories of grants (roles,
// prefixes, expiry), invites and joins, revocations of members, devices
// and people, certificates, write-once rules and app rules, with data
// writes between (storetest.GenACL, GenRevokes, GenPeopleRevokes,
// GenOnceRevokes), delivered to a store in random chunks and one time in
// three with a member forking after one of them, Roster (from the store's
// control commits and rows) lists after every chunk what
// rosterEvaluate (every commit decided again) lists: the members with
// their grants, roles, joins, revocations and forks, and the people; and
// again once some certified devices wrote their profiles.
func TestPropertyRosterFromRows(t *testing.T) {
	var revoked, joined, people, forked, profiles int
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		h, r := drawRosterHistory(rt)
		sp := h.Space()
		st, err := store.Open(checkDir(rt), store.Options{NoSync: true})
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		if err := st.AddSpace(ctx, "s", sp); err != nil {
			rt.Fatal(err)
		}
		forkAt := -1
		if rapid.IntRange(0, 2).Draw(rt, "fork") == 0 {
			forkAt = rapid.IntRange(0, 10).Draw(rt, "fork after chunk")
		}
		for chunk, cs := 0, h.Commits; len(cs) > 0; chunk++ {
			n := min(len(cs), 1+r.IntN(12))
			if _, err := st.Apply(ctx, sp, cs[:n]); err != nil {
				rt.Fatal(err)
			}
			cs = cs[n:]
			if chunk == forkAt || (forkAt > chunk && len(cs) == 0) {
				k := h.Authors[r.IntN(len(h.Authors))]
				if held(ctx, rt, st, sp, k.Author()) {
					storetest.Fork(ctx, rt, st, sp, k, "fork")
				}
			}
			if _, complete, err := st.Controls(ctx, sp); err != nil || !complete {
				rt.Fatalf("the store does not list the control commits (%v): Roster decides whole", err)
			}
			got, gotPeople, err := space.Roster(ctx, st, sp)
			if err != nil {
				rt.Fatal(err)
			}
			want, wantPeople, err := space.RosterEvaluate(ctx, st, sp)
			if err != nil {
				rt.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotPeople, wantPeople) {
				rt.Fatalf("after chunk %d, from the rows:\n%s\nevaluated:\n%s", chunk, rosterText(got, gotPeople), rosterText(want, wantPeople))
			}
		}
		// Profiles: some certified devices write theirs (profile.go), then
		// the rosters are compared again.
		ms, _, err := space.Roster(ctx, st, sp)
		if err != nil {
			rt.Fatal(err)
		}
		keyOf := map[keys.AuthorID]keys.DeviceKey{}
		for _, k := range h.Authors {
			keyOf[k.Author()] = k
		}
		for _, m := range ms {
			k, ok := keyOf[m.Author]
			if m.Identity.IsZero() || !ok || r.IntN(2) == 0 {
				continue
			}
			hd := storetest.NextHeader(ctx, rt, st, sp, m.Author)
			c, err := commit.Build(hd, []commit.Op{commit.Put(space.ProfileKey(m.Identity, m.Author), space.Profile{Name: "P " + m.Author.Short()}.Encode())}, k)
			if err != nil {
				rt.Fatal(err)
			}
			if _, err := st.Apply(ctx, sp, []*commit.Commit{c}); err != nil {
				rt.Fatal(err)
			}
		}
		ms, ps, err := space.Roster(ctx, st, sp)
		if err != nil {
			rt.Fatal(err)
		}
		want, wantPeople, err := space.RosterEvaluate(ctx, st, sp)
		if err != nil {
			rt.Fatal(err)
		}
		if !reflect.DeepEqual(ms, want) || !reflect.DeepEqual(ps, wantPeople) {
			rt.Fatalf("with profiles, from the rows:\n%s\nevaluated:\n%s", rosterText(ms, ps), rosterText(want, wantPeople))
		}
		for _, p := range ps {
			profiles += b2i(p.Profile.Name != "")
		}
		for _, m := range ms {
			revoked += b2i(m.Revoked != nil)
			joined += len(m.Joined)
			forked += b2i(m.ForkedAt != 0)
		}
		people += len(ps)
	})
	msg := fmt.Sprintf("in the final rosters: %d members revoked, %d joins, %d people (%d with a profile), %d forked members", revoked, joined, people, profiles, forked)
	if revoked == 0 || joined == 0 || people == 0 || profiles == 0 || forked == 0 {
		t.Fatal(msg + ": the property checked too little")
	}
	t.Log(msg)
}

// drawRosterHistory draws a history of one of the generators of control
// ops.
func drawRosterHistory(rt *rapid.T) (*storetest.History, *rand.Rand) {
	seed := rapid.Uint64().Draw(rt, "seed")
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := storetest.Gen{
		Authors:  rapid.IntRange(2, 6).Draw(rt, "authors"),
		Ops:      rapid.IntRange(40, 200).Draw(rt, "ops"),
		Keys:     rapid.IntRange(3, 12).Draw(rt, "keys"),
		MaxBatch: rapid.IntRange(1, 3).Draw(rt, "max batch"),
	}
	switch rapid.IntRange(0, 3).Draw(rt, "generator") {
	case 0:
		return storetest.GenACL(r, g), r
	case 1:
		return storetest.GenRevokes(r, g), r
	case 2:
		return storetest.GenPeopleRevokes(r, g), r
	}
	return storetest.GenOnceRevokes(r, g), r
}

// held reports whether st holds a commit of au in sp.
func held(ctx context.Context, rt *rapid.T, st *store.Store, sp keys.SpaceID, au keys.AuthorID) bool {
	heads, err := st.Heads(ctx, sp)
	if err != nil {
		rt.Fatal(err)
	}
	for _, h := range heads {
		if h.Author == au {
			return true
		}
	}
	return false
}

func rosterText(ms []space.Member, ps []space.Person) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf("  %s role %d invite %v joined %v revoked %+v forked %d identity %s %q grants %+v\n", m.Author.Short(), m.Role, m.Invite, m.Joined, m.Revoked, m.ForkedAt, m.Identity, m.DeviceName, m.Grants)
	}
	for _, p := range ps {
		s += fmt.Sprintf("  person %s role %d devices %v grants %+v\n", p.Identity, p.Role, p.Devices, p.Grants)
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkDir returns a directory removed when rt's check ends. t.TempDir
// keeps every check's directory until the test ends, and a store holds a
// 64 MiB reserve file once written: a thousand checks filled the disk.
func checkDir(rt *rapid.T) string {
	dir, err := os.MkdirTemp("", "loam-check")
	if err != nil {
		rt.Fatal(err)
	}
	rt.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
