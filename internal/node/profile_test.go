package node

import (
	"bytes"
	"image"
	"image/png"
	"io"
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
	ana, _ := newIdentity(t, a, name, "laptop")
	joinAs(t, a, s, "club", commit.RoleSeed, 0)
	joinAs(t, a, b, "club", commit.RoleRead, time.Hour)
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

// TestProfileAvatarFromSpace: Ana's second device learns her profile,
// avatar included, from a private space they share (where the avatar is
// sealed, so its plain blob is not held there), and renames her keeping
// the avatar; the first device reads the new name and the avatar from
// the second's copy.
func TestProfileAvatarFromSpace(t *testing.T) {
	ctx := ctxT(t)
	// The phone fetches no blob before it reads one: else its eager
	// fetcher could fetch Ana's plain avatar from her own space, and the
	// rename below would not read the club's sealed copy.
	a := openNode(t, t.TempDir())
	b := openWith(t, Options{Home: t.TempDir(), Listen: loopback, NoSync: true, FetchBlobs: -1})
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	ana, phrase := newIdentity(t, a, "Ana", "laptop")
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 6, 6))); err != nil {
		t.Fatal(err)
	}
	av, _, err := a.AddBlob(ctx, bytes.NewReader(img.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := space.Profile{Name: "Ana", Avatar: av.String()}
	if n, err := a.SetProfile(ctx, want); err != nil || n != len(a.profileSpaces()) {
		t.Fatalf("SetProfile = %d, %v; want %d (every space held)", n, err, len(a.profileSpaces()))
	}
	recoverIdentity(t, b, phrase, "Ana", IdentityOptions{Device: "phone"})
	joinAs(t, a, b, "club", commit.RoleWrite, time.Hour)
	waitFor(t, time.Minute, "the phone learning Ana's profile", func() bool {
		p, err := b.Profile(ctx)
		return err == nil && p == want
	})
	if _, err := b.blobs.Open(av); err == nil {
		t.Fatal("the phone holds the plain avatar: the test would not read it from the space")
	}
	renamed := space.Profile{Name: "Ana Lima", Avatar: av.String()}
	if _, err := b.SetProfile(ctx, renamed); err != nil {
		t.Fatalf("renaming on the phone, keeping the avatar: %v", err)
	}
	// The laptop shows the new name, from the phone's copy or from its
	// own (the laptop refreshes its copy once it learns the new profile
	// from Ana's own space: whichever is later wins the roster), and holds
	// the phone's copy of the avatar, which is what is read below.
	waitFor(t, time.Minute, "the laptop reading the new name and the phone's copy", func() bool {
		_, ps, err := a.Roster(ctx, id.String())
		if err != nil || len(ps) != 1 || ps[0].Identity != ana.ID || ps[0].Profile.Profile != renamed {
			return false
		}
		_, err = a.st.Get(ctx, id, space.AvatarKey(ana.ID, b.dev.Author()))
		return err == nil
	})
	ent, err := a.st.Get(ctx, id, space.AvatarKey(ana.ID, b.dev.Author()))
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := RefOf(ent)
	if !ok {
		t.Fatalf("the phone's avatar key holds no blob: %+v", ent)
	}
	var got []byte
	waitFor(t, time.Minute, "the phone's avatar on the laptop", func() bool {
		r, err := a.OpenRef(ctx, id, ref)
		if err != nil {
			return false
		}
		defer r.Close()
		got, err = io.ReadAll(r)
		return err == nil
	})
	if !bytes.Equal(got, img.Bytes()) {
		t.Fatalf("the phone's avatar is %d bytes, not the image", len(got))
	}
}

// TestRefreshProfile: a profile set on Ana's laptop reaches, through
// refreshProfile on her phone, a space only the phone holds; run again,
// it writes nothing.
func TestRefreshProfile(t *testing.T) {
	ctx := ctxT(t)
	a, b := openNode(t, t.TempDir()), openNode(t, t.TempDir())
	newSpace(t, a, "club")
	_, phrase := newIdentity(t, a, "Ana", "laptop")
	recoverIdentity(t, b, phrase, "Ana", IdentityOptions{Device: "phone"})
	own := newSpace(t, b, "phone-only")
	joinAs(t, a, b, "club", commit.RoleWrite, time.Hour)
	if _, err := a.SetProfile(ctx, space.Profile{Name: "Ana Lima"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the phone learning the new profile", func() bool {
		p, err := b.Profile(ctx)
		return err == nil && p.Name == "Ana Lima"
	})
	nameIn := func(n *Node) string {
		_, ps, err := n.Roster(ctx, own.ID().String())
		if err != nil || len(ps) != 1 {
			return ""
		}
		return ps[0].Profile.Name
	}
	// The phone's person worker sees the newer profile in the person space
	// and writes it where only the phone is (refreshOnNewProfile).
	waitFor(t, 20*time.Second, "the new profile in the phone's own space", func() bool { return nameIn(b) == "Ana Lima" })
	if w, err := b.refreshProfile(ctx); err != nil || w != 0 {
		t.Fatalf("refreshProfile again = %d, %v; want 0", w, err)
	}
}
