package node

import (
	"context"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/testkit"
)

// Invites name the person (#12): a device holding an identity joins
// through an invite with one commit carrying its certificate and the
// self-grant to its person; the person's other device then follows the
// space with a ticket without an invite and writes, in a public space and
// in a private one.
func TestInviteNamesThePerson(t *testing.T) {
	for _, private := range []bool{false, true} {
		name := "public"
		if private {
			name = "private"
		}
		t.Run(name, func(t *testing.T) {
			ctx := ctxT(t)
			admin := openNode(t, t.TempDir())
			laptop := openNode(t, t.TempDir())
			phone := openNode(t, t.TempDir())
			sp, err := admin.NewSpace(ctx, "club", SpaceOptions{Private: private})
			if err != nil {
				t.Fatal(err)
			}
			id := sp.ID()
			tk, err := admin.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite, Expires: time.Hour, Uses: 1})
			if err != nil {
				t.Fatal(err)
			}
			ana, phrase := newIdentity(t, laptop, "Ana", "laptop")
			joinWith(t, laptop, tk)
			// One commit: the laptop's certificate and the grant to Ana.
			join := firstCommit(t, laptop, id)
			if len(join.Ops) != 2 || join.Ops[0].Kind != commit.KindCert || join.Ops[1].Kind != commit.KindGrant {
				t.Fatalf("the join commit has %d ops, want a cert and a grant", len(join.Ops))
			}
			g, err := commit.DecodeGrant(join.Ops[1])
			if err != nil || !g.Person || g.Subject != keys.AuthorID(ana.ID) || g.Invite != tk.Invite.Author() || g.Role != commit.RoleWrite {
				t.Fatalf("the join's grant %+v (%v): want write to Ana through the invite", g, err)
			}
			put(t, laptop, id, "from", "laptop")
			waitFor(t, 20*time.Second, "Ana's grant and the laptop's write at the admin's", func() bool {
				acc, err := admin.st.Access(ctx, id)
				return err == nil && acc.PersonRole(ana.ID, commit.HLC{Wall: uint64(time.Now().UnixMicro())}) == commit.RoleWrite &&
					value(admin, id, "from") == "laptop"
			})

			// Ana's phone: the same identity, a ticket without an invite
			// (with the read keys, in a private space). The invite's one use
			// is taken; the phone needs none.
			recoverIdentity(t, phone, phrase, "Ana", IdentityOptions{Device: "phone"})
			follow := keys.Ticket{Space: id, Name: "club", Addrs: admin.Addrs(), ReadKeys: tk.ReadKeys}
			psp := joinWith(t, phone, follow)
			if psp.Private() != private {
				t.Fatalf("the phone's space is private: %v, want %v", psp.Private(), private)
			}
			var werr error
			waitFor(t, 30*time.Second, "the phone writing through Ana's grant", func() bool {
				_, werr = psp.Commit(ctx, []commit.Op{commit.Put([]byte("phone"), []byte("hi"))})
				return werr == nil
			})
			for _, n := range []*Node{admin, laptop} {
				waitFor(t, 20*time.Second, "the phone's write at every member", func() bool {
					e, err := n.st.Get(ctx, id, []byte("phone"))
					return err == nil && string(e.Value) == "hi" && e.Author == phone.Author()
				})
			}
			acc, err := admin.st.Access(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r := acc.Role(phone.Author()); r != commit.RoleWrite || len(acc.Grants(phone.Author())) != 0 {
				t.Fatalf("the phone holds %s with grants %v, want write through Ana only", r, acc.Grants(phone.Author()))
			}
			if n := certCount(t, phone, id); n != 1 {
				t.Fatalf("the phone carried %d certificates, want 1", n)
			}
			if n := certCount(t, laptop, id); n != 1 {
				t.Fatalf("the laptop carried %d certificates, want 1 (in its join)", n)
			}
			if n := misbehaving([]*Node{admin, laptop, phone}); n != 0 {
				t.Fatalf("%d misbehaviours counted", n)
			}

			// Joining again with the ticket does nothing: the person holds
			// the role (and the invite's use is spent).
			before := heads(laptop, id)
			if _, err := laptop.Join(ctx, tk); err != nil {
				t.Fatalf("joining again: %v", err)
			}
			if heads(laptop, id) != before {
				t.Fatal("joining again committed")
			}
		})
	}
}

// A device of a person that holds the invite's role there already, whose
// own certificate is not in the space, does not take a use of the invite:
// it joins by carrying its certificate alone.
func TestInviteJoinedBeforeByThePerson(t *testing.T) {
	ctx := ctxT(t)
	admin := openNode(t, t.TempDir())
	laptop := openNode(t, t.TempDir())
	phone := openNode(t, t.TempDir())
	id, tk := invited(t, admin, "club")
	ana, phrase := newIdentity(t, laptop, "Ana", "laptop")
	joinWith(t, laptop, tk)
	recoverIdentity(t, phone, phrase, "Ana", IdentityOptions{Device: "phone"})
	psp, err := phone.Join(ctx, tk) // the same ticket, invite included
	if err != nil {
		t.Fatal(err)
	}
	if _, err := psp.Commit(ctx, []commit.Op{commit.Put([]byte("phone"), []byte("hi"))}); err != nil {
		t.Fatalf("the phone writes once joined: %v", err)
	}
	waitFor(t, 20*time.Second, "the phone's commits at the admin's", func() bool { return value(admin, id, "phone") == "hi" })
	ms, err := space.Members(ctx, admin.st, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Author == tk.Invite.Author() && len(m.Joined) != 1 {
			t.Fatalf("the invite admitted %d devices, want 1 (the laptop's join as Ana)", len(m.Joined))
		}
	}
	acc, err := admin.st.Access(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.People(ana.ID)) != 1 || !acl.CanWrite(acc.Role(phone.Author())) {
		t.Fatalf("Ana's grants %v, the phone's role %s", acc.People(ana.ID), acc.Role(phone.Author()))
	}

	// Once the admin revoked the invite, Ana's tablet still joins with the
	// ticket: Ana holds the role, the tablet carries its certificate.
	if _, err := admin.Revoke(ctx, "club", tk.String()); err != nil {
		t.Fatal(err)
	}
	tablet := openNode(t, t.TempDir())
	recoverIdentity(t, tablet, phrase, "Ana", IdentityOptions{Device: "tablet"})
	waitFor(t, 20*time.Second, "the invite's revocation at the laptop's", func() bool {
		acc, err := laptop.st.Access(ctx, id)
		_, cut := acc.Cuts[tk.Invite.Author()]
		return err == nil && cut
	})
	tsp, err := tablet.Join(ctx, keys.Ticket{Space: id, Name: "club", Addrs: laptop.Addrs(), Invite: tk.Invite})
	if err != nil {
		t.Fatalf("Ana's tablet joining with the revoked invite: %v", err)
	}
	if _, err := tsp.Commit(ctx, []commit.Op{commit.Put([]byte("tablet"), []byte("hi"))}); err != nil {
		t.Fatalf("the tablet writes once joined: %v", err)
	}
	if c := firstCommit(t, tablet, id); len(c.Ops) != 1 || c.Ops[0].Kind != commit.KindCert {
		t.Fatalf("the tablet's first commit: %d ops, want its certificate alone", len(c.Ops))
	}
}

// A device without an identity joins as before: the self-grant is to the
// device. So does a seeder, identity or not: a seeder is a machine.
func TestInviteWithoutIdentityGrantsTheDevice(t *testing.T) {
	ctx := ctxT(t)
	admin := openNode(t, t.TempDir())
	dev := openNode(t, t.TempDir())
	seeder := openNode(t, t.TempDir())
	id, tk := invited(t, admin, "club")
	joinWith(t, dev, tk)
	newIdentity(t, seeder, "Sam", "seeder")
	joinAs(t, admin, seeder, "club", commit.RoleSeed, time.Hour)
	for _, c := range []struct {
		n    *Node
		role commit.Role
	}{{dev, commit.RoleWrite}, {seeder, commit.RoleSeed}} {
		join := firstCommit(t, c.n, id)
		g, err := commit.DecodeGrant(join.Ops[len(join.Ops)-1])
		if err != nil || g.Person || g.Subject != c.n.Author() || g.Role != c.role {
			t.Fatalf("%s's join grant %+v (%v), want %s to the device", c.n.Author().Short(), g, err, c.role)
		}
		if r, _ := admin.st.Role(ctx, id, c.n.Author()); r != c.role {
			waitFor(t, 20*time.Second, "the join at the admin's", func() bool {
				r, _ := admin.st.Role(ctx, id, c.n.Author())
				return r == c.role
			})
		}
	}
	// A seeder is a machine, not its owner: it carries no certificate
	// (it would tell the members whose machine seeds their space).
	seeder.carryOne(ctx, id)
	sam, err := seeder.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hasCert(seeder, id, seeder.Author(), sam.ID) {
		t.Fatal("the seeder carried its certificate into the space it seeds")
	}
}

// firstCommit returns n's first commit in space id: its join.
func firstCommit(t *testing.T, n *Node, id keys.SpaceID) *commit.Commit {
	t.Helper()
	for _, c := range storedCommits(t, n, id) {
		if c.Author == n.Author() && c.Seq == 1 {
			return c
		}
	}
	t.Fatalf("no commit of %s in %s", n.Author().Short(), id)
	return nil
}

// Issue 12's case whole: Ana's laptop joins Bob's private space through
// an invite (as Ana); her server, linked afterwards with a link ticket,
// gets the space through her own space's directory and writes in it
// without any invite of Bob's, and Bob counts the write.
func TestInviteThenLinkedDevice(t *testing.T) {
	ctx := ctxT(t)
	bob := openNode(t, t.TempDir())
	laptop := openNode(t, t.TempDir())
	server := openNode(t, t.TempDir())
	club := privateSpace(t, bob, "club")
	tk, err := bob.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite, Expires: time.Hour, Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	ana, _ := newIdentity(t, laptop, "Ana", "laptop")
	joinWith(t, laptop, tk)
	linkDevice(t, laptop, server, LinkOptions{}, "server")
	if !testkit.Poll(40*time.Second, 5*time.Millisecond, func() bool {
		_, err := server.st.Space(ctx, club.ID())
		return err == nil && canWrite(server, club.ID())
	}) {
		sp, _ := server.openSpace(context.Background(), club.ID())
		t.Logf("the server's CheckWrite: %v", sp.CheckWrite(context.Background(), []commit.Op{commit.Put([]byte("k"), nil)}))
		bg := context.Background()
		_, held := server.st.Space(bg, club.ID())
		acc, aerr := server.st.Access(bg, club.ID())
		var pr commit.Role
		var certs []acl.Grant
		if aerr == nil {
			pr, certs = acc.PersonRole(ana.ID, commit.HLC{Wall: uint64(time.Now().UnixMicro())}), acc.Certs(server.Author())
		}
		t.Fatalf("the server does not write in Bob's club: holds it: %v; Ana's role there %s, the server's certificates %v (%v); heads %s, Bob's %s",
			held, pr, certs, aerr, heads(server, club.ID()), heads(bob, club.ID()))
	}
	put(t, server, club.ID(), "from", "server") // the server writes in the club as Ana
	waitFor(t, 30*time.Second, "the server's write at Bob's", func() bool {
		e, err := bob.st.Get(ctx, club.ID(), []byte("from"))
		return err == nil && string(e.Value) == "server" && e.Author == server.Author()
	})
	acc, err := bob.st.Access(ctx, club.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.Grants(server.Author())) != 0 || !acl.CanWrite(acc.Role(server.Author())) || !hasCert(bob, club.ID(), server.Author(), ana.ID) {
		t.Fatalf("at Bob's the server holds %s, own grants %v: want write through Ana only", acc.Role(server.Author()), acc.Grants(server.Author()))
	}
}
