package node

import (
	"errors"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
)

// TestPersonGrantSecondDevice: Ana's laptop joins Bob's space with an
// invite and carries its certificate there; Bob grants write to Ana as a
// person; Ana's second device (certified by the same identity, handed
// the identity key as linking will) follows the space with a ticket
// without an invite, carries its own certificate, and writes: every
// replica counts its write, without its own invite.
func TestPersonGrantSecondDevice(t *testing.T) {
	ctx := ctxT(t)
	bob := openNode(t, t.TempDir())
	laptop := openNode(t, t.TempDir())
	phone := openNode(t, t.TempDir())
	id, tk := invited(t, bob, "club")
	joinWith(t, laptop, tk)
	ana, phrase := newIdentity(t, laptop, "Ana", "laptop")
	waitFor(t, 20*time.Second, "the laptop's certificate at Bob's", func() bool { return hasCert(bob, id, laptop.Author(), ana.ID) })

	// Ana's phone (certified by the same identity, handed the identity
	// key as linking will) follows the space with a ticket without an
	// invite. Before any person grant it cannot write, and carries nothing.
	recoverIdentity(t, phone, phrase, "Ana", IdentityOptions{Device: "phone"})
	follow := keys.Ticket{Space: id, Name: "club", Addrs: bob.Addrs()}
	sp := joinWith(t, phone, follow)
	waitFor(t, 20*time.Second, "the laptop's certificate at the phone's", func() bool { return hasCert(phone, id, laptop.Author(), ana.ID) })
	if err := sp.CheckWrite(ctx, []commit.Op{commit.Put([]byte("k"), nil)}); !errors.Is(err, space.ErrReadOnly) {
		t.Fatalf("the phone may write before Ana's grant: %v", err)
	}
	if c := certCount(t, phone, id); c != 0 {
		t.Fatalf("the phone carried its certificate where it holds no role")
	}
	if err := laptop.Grant(ctx, "club", ana.ID.String(), commit.RoleWrite); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("a writer granted: %v, want ErrNotAdmin", err)
	}
	if err := bob.Grant(ctx, "club", ana.ID.String(), commit.RoleWrite); err != nil {
		t.Fatal(err)
	}
	// The grant's arrival makes the phone carry its certificate.
	waitFor(t, 20*time.Second, "the phone's certificate at Bob's", func() bool { return hasCert(bob, id, phone.Author(), ana.ID) })
	if _, err := sp.Commit(ctx, []commit.Op{commit.Put([]byte("from"), []byte("phone"))}); err != nil {
		t.Fatalf("the phone writes through Ana's grant: %v", err)
	}
	for _, n := range []*Node{bob, laptop} {
		waitFor(t, 20*time.Second, "the phone's write everywhere", func() bool {
			e, err := n.st.Get(ctx, id, []byte("from"))
			return err == nil && string(e.Value) == "phone" && e.Author == phone.Author()
		})
	}
	ms, err := space.Members(ctx, bob.st, id)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		if m.Author != phone.Author() {
			continue
		}
		found = true
		if len(m.Grants) != 0 || m.Identity != ana.ID || m.DeviceName != "phone" || !acl.CanWrite(m.Role) {
			t.Fatalf("the phone's member row %+v: want Ana's device \"phone\" writing through her grant only", m)
		}
	}
	if !found {
		t.Fatal("the phone is not a member at Bob's")
	}
	acc, err := bob.st.Access(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r := acc.Role(phone.Author()); !acl.CanWrite(r) {
		t.Fatalf("the phone's role at Bob's is %s, want write through Ana", r)
	}
	if c := certCount(t, phone, id); c != 1 {
		t.Fatalf("the phone carried %d certificates, want 1", c)
	}
}
