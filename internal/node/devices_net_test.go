package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// anaSetup is Ana (laptop with the identity key, phone with the phrase
// only), admin C and member D in C's spaces club and garden, where C
// granted write to Ana as a person.
type anaSetup struct {
	c, laptop, phone, d *Node
	dHome, phoneHome    string
	cHome, laptopHome   string
	ana                 Identity
	phrase              identity.Phrase
	club, garden        keys.SpaceID
	phoneTicket         keys.Ticket
}

func setupAna(t *testing.T) *anaSetup {
	t.Helper()
	ctx := ctxT(t)
	s := &anaSetup{phoneHome: t.TempDir(), dHome: t.TempDir(), cHome: t.TempDir(), laptopHome: t.TempDir()}
	s.c = openNode(t, s.cHome)
	s.laptop = openNode(t, s.laptopHome)
	s.phone = openNode(t, s.phoneHome)
	s.d = openNode(t, s.dHome)
	var tk keys.Ticket
	s.club, tk = invited(t, s.c, "club")
	var gtk keys.Ticket
	s.garden, gtk = invited(t, s.c, "garden")
	for _, tk := range []keys.Ticket{tk, gtk} {
		joinWith(t, s.laptop, tk)
	}
	joinWith(t, s.d, tk)
	var err error
	s.ana, s.phrase, err = s.laptop.CreateIdentity(ctx, "Ana", IdentityOptions{Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	recoverIdentity(t, s.phone, s.phrase, "Ana", IdentityOptions{Device: "phone", PhraseOnly: true})
	for _, sp := range []keys.SpaceID{s.club, s.garden} {
		waitFor(t, 20*time.Second, "the laptop's certificate at C's", func() bool { return hasCert(s.c, sp, s.laptop.Author(), s.ana.ID) })
		if err := s.c.Grant(ctx, sp.String(), s.ana.ID.String(), commit.RoleWrite); err != nil {
			t.Fatal(err)
		}
	}
	// The phone joins club with its own invite (the old ticket it will
	// try again), and follows garden through Ana's grant.
	s.phoneTicket = inviteFor(t, s.c, "club", commit.RoleWrite, time.Hour)
	joinWith(t, s.phone, s.phoneTicket)
	joinWith(t, s.phone, keys.Ticket{Space: s.garden, Name: "garden", Addrs: s.c.Addrs()})
	for _, sp := range []keys.SpaceID{s.club, s.garden} {
		waitFor(t, 20*time.Second, "the phone's certificate at C's", func() bool { return hasCert(s.c, sp, s.phone.Author(), s.ana.ID) })
		waitFor(t, 20*time.Second, "the phone's certificate at the laptop's", func() bool { return hasCert(s.laptop, sp, s.phone.Author(), s.ana.ID) })
	}
	return s
}

func visible(n *Node, sp keys.SpaceID, key string) bool {
	_, err := n.st.Get(context.Background(), sp, []byte(key))
	return err == nil
}

func isCut(n *Node, sp keys.SpaceID, dev keys.AuthorID) (uint64, bool) {
	acc, err := n.st.Access(context.Background(), sp)
	if err != nil {
		return 0, false
	}
	cut, ok := acc.Cuts[dev]
	return cut, ok
}

// commitCount counts the commits stored in sp.
func commitCount(t *testing.T, n *Node, sp keys.SpaceID) int {
	t.Helper()
	return len(storedCommits(t, n, sp))
}

// TestRevokeDevice: Ana's laptop revokes her phone while member D is
// offline and while the phone, offline too, writes past the cut. Once
// everyone syncs, the phone's commits after the cut count nowhere (the
// view is the same on every replica) and its commits before still do;
// the phone cannot join again with its old ticket. The phone, without
// the identity key, cannot revoke the laptop: a clear error, nothing
// written.
func TestRevokeDevice(t *testing.T) {
	ctx := ctxT(t)
	s := setupAna(t)
	put(t, s.phone, s.club, "before", "phone")
	for _, n := range []*Node{s.c, s.laptop, s.d} {
		waitFor(t, 20*time.Second, "the phone's write before the cut", func() bool { return visible(n, s.club, "before") })
	}

	// The phone holds no identity key: it can revoke nothing.
	before := commitCount(t, s.phone, s.club)
	if _, err := s.phone.RevokeDevice(ctx, "laptop"); !errors.Is(err, ErrNoIdentityKey) {
		t.Fatalf("the phone revoked the laptop: %v, want ErrNoIdentityKey", err)
	} else {
		t.Logf("the phone's error: %v", err)
	}
	if got := commitCount(t, s.phone, s.club); got != before {
		t.Fatalf("a failed revocation wrote %d commits", got-before)
	}
	// Bad names, and the laptop itself.
	if _, err := s.laptop.RevokeDevice(ctx, "tablet"); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("revoking an unknown device: %v", err)
	}
	if _, err := s.laptop.RevokeDevice(ctx, "laptop"); !errors.Is(err, ErrRevokeThisDevice) {
		t.Fatalf("the laptop revoked itself: %v", err)
	}

	// D goes offline; so does the phone, which writes on, offline.
	s.d.Close()
	s.phone.Close()
	offline := openWith(t, Options{Home: s.phoneHome, Offline: true, NoSync: true})
	put(t, offline, s.club, "after", "phone")
	put(t, offline, s.garden, "after", "phone")
	offline.Close()

	devs, err := s.laptop.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 || !devs[0].This || devs[0].Name != "laptop" || devs[1].Name != "phone" || devs[1].Spaces != 2 || devs[1].Revoked != nil {
		t.Fatalf("the laptop's devices before: %+v", devs)
	}
	rv, err := s.laptop.RevokeDevice(ctx, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if rv.Device != s.phone.Author() || rv.Written != 2 || rv.Pending != 0 {
		t.Fatalf("revoked %+v, want the phone in 2 spaces", rv)
	}
	for _, sp := range []keys.SpaceID{s.club, s.garden} {
		waitFor(t, 20*time.Second, "the phone cut at C's", func() bool { _, ok := isCut(s.c, sp, s.phone.Author()); return ok })
	}
	devs, err = s.laptop.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := devs[1].Revoked; r == nil || r.Spaces != 2 || r.At.IsZero() || devs[1].LastSeen.IsZero() {
		t.Fatalf("the phone after its revocation: %+v", devs[1])
	}
	// Revoking it again writes nothing more.
	if rv, err := s.laptop.RevokeDevice(ctx, s.phone.Author().String()); err != nil || rv.Written != 0 {
		t.Fatalf("revoking again: %+v, %v", rv, err)
	}

	// The phone comes back and syncs with D, while C and the laptop, which
	// hold the revocation, are away: D takes the phone's write past the
	// cut, and there it counts, for now.
	s.c.Close()
	s.laptop.Close()
	s.phone = openNode(t, s.phoneHome)
	s.d = openNode(t, s.dHome)
	if _, err := s.d.Connect(ctx, loopbackTCP(s.phone.Addrs())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the phone's write past the cut at D's", func() bool { return visible(s.d, s.club, "after") })
	// Then everyone syncs.
	s.c = openNode(t, s.cHome)
	s.laptop = openNode(t, s.laptopHome)
	for _, n := range []*Node{s.d, s.phone, s.laptop} {
		if _, err := n.Connect(ctx, loopbackTCP(s.c.Addrs())); err != nil {
			t.Fatal(err)
		}
	}
	all := []*Node{s.c, s.laptop, s.phone, s.d}
	waitFor(t, 30*time.Second, "club's view the same everywhere", func() bool { return sameView(all, s.club) })
	waitFor(t, 30*time.Second, "garden's view the same everywhere", func() bool { return sameView([]*Node{s.c, s.laptop, s.phone}, s.garden) })
	for _, n := range all {
		if !visible(n, s.club, "before") {
			t.Fatalf("%s lost the phone's write before the cut", n.Author().Short())
		}
		if visible(n, s.club, "after") || visible(n, s.garden, "after") && n != s.d {
			t.Fatalf("the phone's write after the cut counts at %s", n.Author().Short())
		}
	}

	// The phone cannot join again with its old ticket.
	_, err = s.phone.Join(ctx, s.phoneTicket)
	if err == nil {
		t.Fatal("the revoked phone joined again with its old ticket")
	}
	if !errors.Is(err, space.ErrReadOnly) {
		t.Fatalf("the phone's join: %v, want an error saying it was revoked", err)
	}
	waitFor(t, 20*time.Second, "club's view the same after the join", func() bool { return sameView(all, s.club) })
	acc, err := s.c.st.Access(ctx, s.club)
	if err != nil {
		t.Fatal(err)
	}
	if r := acc.Role(s.phone.Author()); r != 0 {
		t.Fatalf("the phone has role %s at C's after its join", r)
	}
}

// TestRevocationCarried: a revocation made on the laptop reaches garden,
// a private space only the home server holds: the laptop and the home
// server meet only in club, hosted by C (the laptop, travelling, never
// reaches the home server, so it never learns garden from Ana's own
// space). The home server carries the revocation from club into garden
// and, as garden's admin, rotates its read key to every reader but the
// phone.
func TestRevocationCarried(t *testing.T) {
	ctx := ctxT(t)
	c := openNode(t, t.TempDir())
	home := openNode(t, t.TempDir())
	laptop := openNode(t, t.TempDir())
	phone := openNode(t, t.TempDir())
	ana, phrase := newIdentity(t, home, "Ana", "home")
	for _, n := range []*Node{laptop, phone} {
		recoverIdentity(t, n, phrase, "Ana", IdentityOptions{Device: map[*Node]string{laptop: "laptop", phone: "phone"}[n]})
	}
	club := newSpace(t, c, "club")
	if err := c.Grant(ctx, "club", ana.ID.String(), commit.RoleWrite); err != nil {
		t.Fatal(err)
	}
	garden := privateSpace(t, home, "garden")
	waitFor(t, 20*time.Second, "the home server's certificate", func() bool { return hasCert(home, garden.ID(), home.Author(), ana.ID) })
	if err := home.Grant(ctx, "garden", ana.ID.String(), commit.RoleWrite); err != nil {
		t.Fatal(err)
	}
	// The phone follows garden with its read keys and writes through
	// Ana's grant. (Not with an invite: a live invite's key gets every
	// new read key, and a revoked device holding its ticket would too;
	// revoke the invite as well in that case.)
	gtk := keys.Ticket{Space: garden.ID(), Name: "garden", Addrs: home.Addrs(), ReadKeys: home.rk.All(garden.ID())}
	joinWith(t, phone, gtk)
	waitFor(t, 20*time.Second, "the phone's certificate in garden", func() bool { return hasCert(home, garden.ID(), phone.Author(), ana.ID) })
	for _, n := range []*Node{home, laptop, phone} {
		joinWith(t, n, keys.Ticket{Space: club.ID(), Name: "club", Addrs: c.Addrs()})
	}
	for _, n := range []*Node{home, laptop, phone} {
		waitFor(t, 20*time.Second, "the certificates in club", func() bool { return hasCert(c, club.ID(), n.Author(), ana.ID) })
	}
	waitFor(t, 20*time.Second, "the phone's certificate in club at the laptop's", func() bool { return hasCert(laptop, club.ID(), phone.Author(), ana.ID) })
	epoch0, _ := home.rk.Current(garden.ID())

	rv, err := laptop.RevokeDevice(ctx, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.st.Space(ctx, garden.ID()); !errors.Is(err, store.ErrUnknownSpace) {
		t.Fatalf("the laptop holds garden (%v): the test needs a space only the home server holds", err)
	}
	if rv.Written < 1 {
		t.Fatalf("the laptop wrote the revocation in %d spaces, want club at least", rv.Written)
	}
	waitFor(t, 20*time.Second, "the phone cut in garden by the home server", func() bool { _, ok := isCut(home, garden.ID(), phone.Author()); return ok })
	cur, _ := home.rk.Current(garden.ID())
	if cur.Epoch <= epoch0.Epoch {
		t.Fatalf("garden's read key is still at epoch %d after the phone's revocation", cur.Epoch)
	}
	// Ana's own space, which the home server and the phone share, too:
	// cut, and rotated to Ana's devices and her identity without the phone.
	if ps, ok := home.PersonSpace(); ok && hasCert(home, ps, phone.Author(), ana.ID) {
		waitFor(t, 20*time.Second, "the phone cut in Ana's space", func() bool { _, ok := isCut(home, ps, phone.Author()); return ok })
		var readers []keys.AuthorID
		var latest uint64
		for r, err := range home.st.Rotations(ctx, ps) {
			if err != nil {
				t.Fatal(err)
			}
			if rot, err := commit.DecodeRotate(commit.Op{Kind: commit.KindRotate, Payload: r.Payload}); err == nil && rot.Epoch > latest {
				latest, readers = rot.Epoch, readers[:0]
				for _, k := range rot.Keys {
					readers = append(readers, k.Reader)
				}
			}
		}
		if !slices.Contains(readers, keys.AuthorID(ana.ID)) || slices.Contains(readers, phone.Author()) {
			t.Fatalf("Ana's space's latest key is sealed to %v: want her identity, not the phone", readers)
		}
		// A device recovered from the phrase alone reads that epoch: the
		// key sealed to the identity opens with the phrase's key.
		fresh := openNode(t, t.TempDir())
		recoverIdentity(t, fresh, phrase, "Ana", IdentityOptions{Device: "new", Peers: []string{loopbackTCP(home.Addrs())}})
		waitFor(t, 20*time.Second, "the recovered device reading Ana's space's latest epoch", func() bool {
			k, ok := fresh.rk.Current(ps)
			return ok && k.Epoch == latest
		})
	} else {
		t.Log("the phone's certificate is not in Ana's space at the home server's: not checked there")
	}
	waitFor(t, 20*time.Second, "the new epoch at the phone's (as a commit, unreadable)", func() bool { _, ok := isCut(phone, garden.ID(), phone.Author()); return ok })
	if k, ok := phone.rk.Current(garden.ID()); ok && k.Epoch == cur.Epoch {
		t.Fatal("the revoked phone holds garden's new read key")
	}
}

// TestRevokePerson: an admin revokes Ana as a person in club: every
// device of hers is cut, the one it knew after its latest commit.
func TestRevokePerson(t *testing.T) {
	ctx := ctxT(t)
	c := openNode(t, t.TempDir())
	laptop := openNode(t, t.TempDir())
	club, tk := invited(t, c, "club")
	joinWith(t, laptop, tk)
	ana, _ := newIdentity(t, laptop, "Ana", "laptop")
	waitFor(t, 20*time.Second, "the laptop's certificate at C's", func() bool { return hasCert(c, club, laptop.Author(), ana.ID) })
	if _, err := laptop.Revoke(ctx, "club", ana.ID.String()); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("a writer revoked a person: %v, want ErrNotAdmin", err)
	}
	if _, err := c.Revoke(ctx, "club", keys.IdentityID(keys.AuthorID{1}).String()); !errors.Is(err, ErrNotMember) {
		t.Fatalf("revoking a stranger: %v, want ErrNotMember", err)
	}
	rv, err := c.Revoke(ctx, "club", ana.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if rv.Person != ana.ID || len(rv.Devices) != 1 || rv.Devices[0].Author != laptop.Author() {
		t.Fatalf("revoked %+v", rv)
	}
	waitFor(t, 20*time.Second, "the laptop cut at its own replica", func() bool { _, ok := isCut(laptop, club, laptop.Author()); return ok })
	if cut, _ := isCut(c, club, laptop.Author()); cut != rv.Devices[0].LastSeq {
		t.Fatalf("cut at %d, want %d", cut, rv.Devices[0].LastSeq)
	}
}

// TestRevocationRekeyedByAdmin: the laptop, a writer in notes (a private
// space the home server administers), carries the phone's revocation
// there but cannot rotate its read key; the home server, admin, sees the
// phone cut while the latest key is still sealed to it, and rotates it.
func TestRevocationRekeyedByAdmin(t *testing.T) {
	ctx := ctxT(t)
	home := openNode(t, t.TempDir())
	laptop := openNode(t, t.TempDir())
	phone := openNode(t, t.TempDir())
	ana, phrase := newIdentity(t, laptop, "Ana", "laptop")
	recoverIdentity(t, phone, phrase, "Ana", IdentityOptions{Device: "phone", PhraseOnly: true})
	notes := privateSpace(t, home, "notes")
	if err := home.Grant(ctx, "notes", ana.ID.String(), commit.RoleWrite); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{laptop, phone} {
		tk := keys.Ticket{Space: notes.ID(), Name: "notes", Addrs: home.Addrs(), ReadKeys: home.rk.All(notes.ID())}
		joinWith(t, n, tk)
	}
	waitFor(t, 20*time.Second, "the phone's certificate at the laptop's", func() bool { return hasCert(laptop, notes.ID(), phone.Author(), ana.ID) })
	// The home server rotates once the phone's key is sealed to it.
	if rot, err := home.rotation(notes.ID(), mustMembers(t, home, notes.ID())); err != nil {
		t.Fatal(err)
	} else if _, err := notes.Commit(ctx, []commit.Op{rot.Op}); err != nil {
		t.Fatal(err)
	}
	cur, _ := home.rk.Current(notes.ID())
	waitFor(t, 20*time.Second, "the phone reads the current epoch", func() bool { k, ok := phone.rk.Current(notes.ID()); return ok && k.Epoch == cur.Epoch })

	if rv, err := laptop.RevokeDevice(ctx, "phone"); err != nil || rv.Written != 1 {
		t.Fatalf("revoke: %+v, %v", rv, err)
	}
	waitFor(t, 20*time.Second, "a new epoch at the home server's", func() bool { k, _ := home.rk.Current(notes.ID()); return k.Epoch > cur.Epoch })
	next, _ := home.rk.Current(notes.ID())
	waitFor(t, 20*time.Second, "the laptop reads the new epoch", func() bool { k, _ := laptop.rk.Current(notes.ID()); return k.Epoch == next.Epoch })
	if k, _ := phone.rk.Current(notes.ID()); k.Epoch >= next.Epoch {
		t.Fatal("the revoked phone holds the new read key")
	}
}

func mustMembers(t *testing.T, n *Node, sp keys.SpaceID) []space.Member {
	t.Helper()
	ms, err := space.Members(ctxT(t), n.st, sp)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
