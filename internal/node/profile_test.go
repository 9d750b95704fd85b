package node

import (
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/testkit"
)

// TestProfileBlindSeeder: in a private space the profile is sealed like
// any value: a member reads the person's name, a blind seeder holds and
// serves the commits but never the name, in its view or on its disk.
func TestProfileBlindSeeder(t *testing.T) {
	ctx := ctxT(t)
	const name = "Ana Canary-7f3k"
	a, b, s := openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	ana, _, err := a.CreateIdentity(ctx, name, IdentityOptions{Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	seedT, err := a.Invite(ctx, "club", commit.RoleSeed, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, seedT); err != nil {
		t.Fatal(err)
	}
	readT, err := a.Invite(ctx, "club", commit.RoleRead, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, readT); err != nil {
		t.Fatal(err)
	}
	profileOf := func(n *Node) space.Profile {
		_, ps, err := n.Roster(ctx, id.String())
		if err != nil {
			return space.Profile{}
		}
		for _, p := range ps {
			if p.Identity == ana.ID {
				return p.Profile.Profile
			}
		}
		return space.Profile{}
	}
	waitFor(t, 20*time.Second, "every commit on all three nodes, the member reading Ana's profile", func() bool {
		return sameHeads([]*Node{a, b, s}, id) && profileOf(b).Name == name
	})
	if p := profileOf(s); p != (space.Profile{}) {
		t.Fatalf("the seeder reads the profile %+v", p)
	}
	for _, n := range []*Node{a, b, s} {
		n.Close() // flush everything to disk before looking
	}
	if found := testkit.Grep(t, s.home, name, "Canary"); len(found) != 0 {
		t.Fatalf("the seeder's home holds the profile's name: %v", found)
	}
	if found := testkit.Grep(t, b.home, name); len(found) == 0 {
		t.Fatal("the member's home does not hold the name: the grep would not find it anywhere")
	}
}
