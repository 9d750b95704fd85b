package loam_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/testkit"
)

// pngImage returns a small PNG image.
func pngImage(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// personRow returns the person row of identity id among ms.
func personRow(ms []loam.Member, id string) (loam.Member, bool) {
	for _, m := range ms {
		if m.Identity == id && m.Author == id {
			return m, true
		}
	}
	return loam.Member{}, false
}

// TestProfile: a person's profile, embedded and through a daemon alike:
// creating the identity writes the person's name as the profile into the
// spaces held; SetProfile writes a new one (with an avatar) once per
// space, shown in Members and by Profile; a profile that breaks the
// limits is refused with ErrBadProfile and nothing is written.
func TestProfile(t *testing.T) {
	ctx := ctxT(t)
	eachVia(t, func(t *testing.T, n *loam.Node) {
		if _, err := n.SetProfile(ctx, loam.Profile{Name: "Ana"}); !errors.Is(err, loam.ErrNoIdentity) {
			t.Fatalf("SetProfile without an identity: %v, want ErrNoIdentity", err)
		}
		club := must(n.CreateSpace(ctx, "club", loam.Public))(t)
		diary := must(n.CreateSpace(ctx, "diary", loam.Private))(t)
		ana, _, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		check := func(want loam.Profile) {
			t.Helper()
			if got, err := n.Profile(ctx); err != nil || got != want {
				t.Fatalf("Profile() = %+v, %v; want %+v", got, err, want)
			}
			for _, sp := range []*loam.Space{club, diary} {
				ms := must(sp.Members(ctx))(t)
				p, ok := personRow(ms, ana.ID)
				if !ok || p.Name != want.Name || p.Avatar != want.Avatar || len(p.Devices) != 1 || p.Devices[0].Person != want.Name || p.Devices[0].Name != "laptop" {
					t.Fatalf("%s: members %+v, want the person %q", sp.Name(), ms, want.Name)
				}
				if want.Avatar != "" {
					if img := blobOf(t, ctx, sp, p.AvatarKey); !bytes.Equal(img, pngImage(t)) {
						t.Fatalf("%s: the avatar at %q: %d bytes", sp.Name(), p.AvatarKey, len(img))
					}
				}
			}
		}
		check(loam.Profile{Name: "Ana"}) // written by CreateIdentity

		blob := must(n.AddBlob(ctx, bytes.NewReader(pngImage(t))))(t)
		want := loam.Profile{Name: "Ana Lima", Avatar: blob.ID}
		// Every space held: club, diary and Ana's own space.
		held := len(must(n.Spaces(ctx))(t))
		if w, err := n.SetProfile(ctx, want); err != nil || w != held || held < 2 {
			t.Fatalf("SetProfile = %d, %v; want %d spaces", w, err, held)
		}
		check(want)
		if w, err := n.SetProfile(ctx, want); err != nil || w != 0 {
			t.Fatalf("SetProfile again = %d, %v; want 0 spaces (written once)", w, err)
		}

		// Refused, with nothing written.
		before := map[string]loam.State{}
		for _, sp := range []*loam.Space{club, diary} {
			before[sp.Name()] = must(sp.State(ctx))(t)
		}
		text := must(n.AddBlob(ctx, strings.NewReader("not an image")))(t)
		big := must(n.AddBlob(ctx, io.MultiReader(bytes.NewReader(pngImage(t)), bytes.NewReader(make([]byte, loam.MaxAvatar)))))(t)
		for _, bad := range []loam.Profile{
			{Name: ""},
			{Name: strings.Repeat("a", loam.MaxProfileName+1)},
			{Name: "Ana\x1b[2J"},
			{Name: " Ana"},
			{Name: "Ana", Avatar: "not a blob"},
			{Name: "Ana", Avatar: text.ID},
			{Name: "Ana", Avatar: big.ID},
		} {
			_, err := n.SetProfile(ctx, bad)
			if !errors.Is(err, loam.ErrBadProfile) {
				t.Errorf("SetProfile(%.20q, %.12s) = %v, want ErrBadProfile", bad.Name, bad.Avatar, err)
			}
		}
		for _, sp := range []*loam.Space{club, diary} {
			if st := must(sp.State(ctx))(t); st != before[sp.Name()] {
				t.Errorf("%s changed by refused profiles: %+v, was %+v", sp.Name(), st, before[sp.Name()])
			}
		}
		check(want)

		// A space created later gets the profile from the carrier.
		later := must(n.CreateSpace(ctx, "later", loam.Public))(t)
		var p loam.Member
		if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
			ms, err := later.Members(ctx)
			p, _ = personRow(ms, ana.ID)
			return err == nil && p.Name == want.Name && p.Avatar == want.Avatar
		}) {
			t.Fatalf("a later space's person: %+v", p)
		}
	})
}

// TestProfileTwoDevices: Ana's laptop and home server, each with a daemon,
// linked to one identity, in Bob's space: Members shows one person, "Ana",
// with two devices, on every node; what either device writes is by a
// device of Ana's; Bob writing Ana's profile keys is ignored; a profile
// set on the laptop reaches the server's Profile.
func TestProfileTwoDevices(t *testing.T) {
	ctx := ctxT(t)
	bob, club := bobsClub(t, ctx)
	if _, _, err := bob.CreateIdentity(ctx, "Bob", loam.IdentityOptions{}); err != nil {
		t.Fatal(err)
	}
	a := anaOnTwoDevices(t, ctx, bob, club, node.IdentityOptions{Device: "home server"})
	ana, laptop, server, lsp, ssp := a.ana, a.laptop, a.second, a.lsp, a.ssp
	for who, sp := range map[string]*loam.Space{"laptop": lsp, "server": ssp} {
		var werr error
		if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
			werr = sp.Put(ctx, []byte("from/"+who), []byte("hi"))
			return werr == nil
		}) {
			t.Fatalf("the %s cannot write: %v", who, werr)
		}
	}
	// Bob, of another identity, writes Ana's profile keys: ignored.
	for _, k := range []string{"profile/" + ana.ID, "profile/" + ana.ID + "/" + bob.Author(), "profile/" + ana.ID + "/" + laptop.Author() + "x"} {
		if err := club.Put(ctx, []byte(k), []byte(`{"name":"Mallory","avatar":""}`)); err != nil {
			t.Fatal(err)
		}
	}

	for who, sp := range map[string]*loam.Space{"Bob": club, "the laptop": lsp, "the server": ssp} {
		var (
			ms  []loam.Member
			row loam.Member
			err error
		)
		if !testkit.Poll(60*time.Second, 20*time.Millisecond, func() bool {
			ms, err = sp.Members(ctx)
			row, _ = personRow(ms, ana.ID)
			kv1, err1 := sp.Lookup(ctx, []byte("from/laptop"))
			kv2, err2 := sp.Lookup(ctx, []byte("from/server"))
			_, err3 := sp.Lookup(ctx, []byte("profile/"+ana.ID+"/"+bob.Author()))
			return err == nil && err1 == nil && err2 == nil && err3 == nil && len(row.Devices) == 2 && row.Name == "Ana" &&
				kv1.Author == laptop.Author() && kv2.Author == server.Author()
		}) {
			t.Fatalf("%s's members: %+v, %v", who, ms, err)
		}
		devs := map[string]string{}
		for _, d := range row.Devices {
			devs[d.Author] = d.Person + "/" + d.Name
		}
		if devs[laptop.Author()] != "Ana/laptop" || devs[server.Author()] != "Ana/home server" {
			t.Errorf("%s: Ana's devices %v", who, devs)
		}
	}

	// A profile set on the laptop: the server learns it from the space.
	if _, err := laptop.SetProfile(ctx, loam.Profile{Name: "Ana Lima"}); err != nil {
		t.Fatal(err)
	}
	var (
		got loam.Profile
		err error
	)
	if !testkit.Poll(60*time.Second, 20*time.Millisecond, func() bool {
		got, err = server.Profile(ctx)
		return err == nil && got.Name == "Ana Lima"
	}) {
		t.Fatalf("the server's profile: %+v, %v", got, err)
	}
	_ = context.Background
}
