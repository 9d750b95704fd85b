package loam_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/testkit"
)

// TestIdentity: an identity made on a device, embedded and through a
// daemon alike: the phrase is 24 words that derive the identity, shown
// once; a second identity, a bad name, and Identity without one are
// refused with their errors.
func TestIdentity(t *testing.T) {
	ctx := ctxT(t)
	eachVia(t, func(t *testing.T, n *loam.Node) {
		if _, err := n.Identity(ctx); !errors.Is(err, loam.ErrNoIdentity) {
			t.Fatalf("Identity before one: %v, want ErrNoIdentity", err)
		}
		if _, _, err := n.CreateIdentity(ctx, "", loam.IdentityOptions{}); !errors.Is(err, loam.ErrBadPersonName) {
			t.Fatalf("empty name: %v, want ErrBadPersonName", err)
		}
		id, phrase, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := identity.ParsePhrase(phrase)
		if err != nil || len(strings.Fields(phrase)) != 24 || p.Key().ID().String() != id.ID {
			t.Fatalf("phrase %q (%v) does not derive %s", phrase, err, id.ID)
		}
		if id.Name != "Ana" || !id.HoldsKey || id.Device.Name != "laptop" || id.Device.Author != n.Author() || id.Device.Since.IsZero() {
			t.Fatalf("identity %+v", id)
		}
		got, err := n.Identity(ctx)
		if err != nil || got != id {
			t.Fatalf("Identity() = %+v, %v; want %+v", got, err, id)
		}
		if _, _, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{}); !errors.Is(err, loam.ErrIdentityExists) {
			t.Fatalf("second identity: %v, want ErrIdentityExists", err)
		}
	})
}

// bobsClub opens Bob's networked node in this process, closed when the
// test ends, and creates its public space "club".
func bobsClub(t *testing.T, ctx context.Context) (*loam.Node, *loam.Space) {
	t.Helper()
	bob := must(loam.Open(ctx, networked(t.TempDir())))(t)
	t.Cleanup(func() { bob.Close() })
	return bob, must(bob.CreateSpace(ctx, "club", loam.Public))(t)
}

// anaDevices are Ana's two devices in Bob's club, each behind a daemon.
type anaDevices struct {
	ana            loam.Identity
	laptop, second *loam.Node
	lsp, ssp       *loam.Space // the laptop's and the second device's club
}

// anaOnTwoDevices: Ana's laptop joins Bob's club by an invite to write
// and makes Ana's identity, which Bob grants Write as a person; her second
// device, given the phrase, recovers the identity with opts (as recovery
// will) and follows the club by a ticket of its ID and Bob's addresses,
// without an invite.
func anaOnTwoDevices(t *testing.T, ctx context.Context, bob *loam.Node, club *loam.Space, opts node.IdentityOptions) anaDevices {
	t.Helper()
	var a anaDevices
	a.laptop = connect(t, startDaemon(t).home)
	secondD := startDaemon(t)
	a.second = connect(t, secondD.home)
	a.lsp = must(a.laptop.Join(ctx, must(club.Invite(ctx, loam.Write, time.Hour))(t)))(t)
	ana, phrase, err := a.laptop.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	a.ana = ana
	if err := club.Grant(ctx, ana.ID, loam.Write); err != nil {
		t.Fatal(err)
	}
	p := must(identity.ParsePhrase(phrase))(t)
	if _, err := secondD.n.RecoverIdentity(ctx, p, "Ana", opts); err != nil {
		t.Fatal(err)
	}
	id := must(keys.ParseSpaceID(club.ID()))(t)
	a.ssp = must(a.second.Join(ctx, keys.Ticket{Space: id, Name: "club", Addrs: bob.Addrs()}.String()))(t)
	return a
}

// TestPersonGrantThroughDaemons: Ana's laptop and phone, each with a
// daemon, and Bob's embedded node. Bob invites the laptop, which makes
// Ana's identity; the phone is certified by the same identity (given its
// phrase, as recovery will) and follows the space without an invite;
// Bob's grant to Ana as a person lets the phone write, and Bob counts it.
func TestPersonGrantThroughDaemons(t *testing.T) {
	ctx := ctxT(t)
	bob, club := bobsClub(t, ctx)
	a := anaOnTwoDevices(t, ctx, bob, club, node.IdentityOptions{Device: "phone"})
	ana, laptop, phone, lsp, psp := a.ana, a.laptop, a.second, a.lsp, a.ssp
	if err := lsp.Grant(ctx, ana.ID, loam.Write); err == nil {
		t.Fatal("a writer granted")
	}
	var werr error
	if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
		werr = psp.Put(ctx, []byte("from"), []byte("phone"))
		return werr == nil
	}) {
		t.Fatalf("the phone cannot write through Ana's grant: %v", werr)
	}
	if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
		kv, err := club.Lookup(ctx, []byte("from"))
		return err == nil && string(kv.Value) == "phone" && kv.Author == phone.Author()
	}) {
		t.Fatal("Bob does not count the phone's write")
	}

	// Members: one person, Ana, with her two devices, embedded (Bob) and
	// through a daemon (the laptop's, once it holds the phone's commits).
	if err := lsp.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	for who, sp := range map[string]*loam.Space{"Bob": club, "the laptop": lsp} {
		var (
			ms  []loam.Member
			err error
		)
		if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
			ms, err = sp.Members(ctx)
			return err == nil && len(ms) > 0 && len(ms[len(ms)-1].Devices) == 2
		}) {
			t.Fatalf("%s's members: %+v, %v", who, ms, err)
		}
		person := ms[len(ms)-1]
		if person.Identity != ana.ID || person.Author != ana.ID || person.Role != loam.Write || len(person.Grants) != 1 || person.Grants[0].Role != loam.Write || person.Grants[0].GrantedBy != bob.Author() {
			t.Errorf("%s: person row %+v", who, person)
		}
		names := map[string]string{}
		for _, d := range person.Devices {
			names[d.Author] = d.Name
			if d.Identity != ana.ID || d.Since == nil || d.Role != loam.Write {
				t.Errorf("%s: device row %+v", who, d)
			}
		}
		if names[laptop.Author()] != "laptop" || names[phone.Author()] != "phone" {
			t.Errorf("%s: devices %v, want the laptop and the phone by name", who, names)
		}
		for _, m := range ms[:len(ms)-1] {
			if m.Author == laptop.Author() || m.Author == phone.Author() || m.Identity != "" {
				t.Errorf("%s: Ana's device has a row of its own: %+v", who, m)
			}
		}
	}
}
