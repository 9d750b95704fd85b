package node

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// genesisOf returns the genesis commit of space sp held by n.
func genesisOf(t *testing.T, n *Node, sp keys.SpaceID) []byte {
	t.Helper()
	for sc, err := range n.st.Commits(ctxT(t), sp, keys.AuthorID(sp), 1) {
		if err != nil {
			t.Fatal(err)
		}
		return sc.Bytes
	}
	t.Fatalf("no genesis of %s", sp)
	return nil
}

// canWrite reports whether n may write a put in space sp.
func canWrite(n *Node, sp keys.SpaceID) bool {
	ctx := context.Background()
	s, err := n.openSpace(ctx, sp)
	return err == nil && s.CheckWrite(ctx, []commit.Op{commit.Put([]byte("k"), []byte("v"))}) == nil
}

// TestPersonSpaceSameEverywhere: two homes given one phrase make the same
// person space, genesis byte for byte, named after the identity, private,
// and each device may write there; another phrase makes another.
func TestPersonSpaceSameEverywhere(t *testing.T) {
	ctx := ctxT(t)
	a := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	b := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	c := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	ana, phrase := newIdentity(t, a, "Ana", "laptop")
	anaB, err := b.RecoverIdentity(ctx, phrase, "", IdentityOptions{Device: "server"})
	if err != nil {
		t.Fatal(err)
	}
	if ana.Person.IsZero() || ana.Person != anaB.Person {
		t.Fatalf("person spaces %s and %s, want one", ana.Person, anaB.Person)
	}
	if !bytes.Equal(genesisOf(t, a, ana.Person), genesisOf(t, b, ana.Person)) {
		t.Fatal("the two genesis commits differ")
	}
	g, err := commit.Decode(genesisOf(t, a, ana.Person))
	if err != nil {
		t.Fatal(err)
	}
	if who, ok := personOf(g); !ok || who != ana.ID {
		t.Fatalf("personOf(genesis) = %s, %v; want %s", who, ok, ana.ID)
	}
	if p, _ := a.IsPrivate(ctx, ana.Person); !p {
		t.Fatal("the person space is not private")
	}
	for _, n := range []*Node{a, b} {
		waitFor(t, 10*time.Second, "the device may write in the person space", func() bool { return canWrite(n, ana.Person) })
	}
	if anaB.Name != placeholderName(ana.ID) {
		t.Fatalf("a device recovered offline is named %q, want the placeholder", anaB.Name)
	}
	other, _ := newIdentity(t, c, "Bea", "")
	if other.Person == ana.Person {
		t.Fatal("two identities share a person space")
	}
	// The identity file names the person space: a restart keeps it.
	home := a.Home()
	a.Close()
	a = openWith(t, Options{Home: home, Offline: true, NoSync: true})
	if got, ok := a.PersonSpace(); !ok || got != ana.Person {
		t.Fatalf("after a restart the person space is %s, %v", got, ok)
	}
	// A space made by a device with an identity is the person's too.
	s := newSpace(t, a, "garden")
	acc, err := a.st.Access(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.People(ana.ID)) == 0 {
		t.Fatal("the genesis of a space Ana makes grants Ana nothing")
	}
}

// TestLinkDevice: Ana's laptop links her home server with a link ticket;
// the server gets its certificate, Ana's name, every space of hers
// (public and private) and writes in each as Ana, without any invite;
// the ticket works once; a device that is not linked cannot use an
// invite to another space as a link ticket.
func TestLinkDevice(t *testing.T) {
	ctx := ctxT(t)
	laptop := openNode(t, t.TempDir())
	server := openNode(t, t.TempDir())
	stranger := openNode(t, t.TempDir())
	ana, _ := newIdentity(t, laptop, "Ana", "laptop")
	club := newSpace(t, laptop, "club")
	diary := sunnyDiary(t, laptop)

	tk, err := laptop.LinkDevice(ctx, LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := server.AddDevice(ctx, tk, "server")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ana.ID || got.Name != "Ana" || got.Person != ana.Person || got.HoldsKey() || got.Cert.Name != "server" {
		t.Fatalf("the server's identity: %+v", got)
	}
	if err := got.Cert.Verify(); err != nil {
		t.Fatal(err)
	}
	cert, err := laptop.WaitLinked(ctx, tk)
	if err != nil || cert.Device != server.Author() {
		t.Fatalf("WaitLinked: %v, %v", cert.Device, err)
	}
	for _, sp := range []keys.SpaceID{club.ID(), diary.ID()} {
		waitFor(t, 60*time.Second, "the server holds and writes in "+sp.String(), func() bool {
			_, err := server.st.Space(ctx, sp)
			return err == nil && canWrite(server, sp)
		})
	}
	waitFor(t, 20*time.Second, "the diary's entry on the server", func() bool {
		e, err := server.st.Get(ctx, diary.ID(), []byte("day/1"))
		return err == nil && string(e.Value) == "sunny"
	})
	put(t, server, diary.ID(), "day/2", "rain") // the server writes in Ana's private space
	waitFor(t, 20*time.Second, "the server's write at the laptop", func() bool {
		e, err := laptop.st.Get(ctx, diary.ID(), []byte("day/2"))
		return err == nil && string(e.Value) == "rain" && e.Author == server.Author()
	})
	waitFor(t, 20*time.Second, "the server's certificate in the diary at the laptop", func() bool {
		return hasCert(laptop, diary.ID(), server.Author(), ana.ID)
	})

	// The ticket was for one device.
	linkRefused(t, stranger, tk, "intruder", ana.Person, "a used link ticket")
	// An invite to another space is not a link ticket.
	_, inv := invited(t, laptop, "other")
	if _, err := stranger.AddDevice(ctx, inv, "intruder"); !errors.Is(err, ErrLinkVoid) {
		t.Fatalf("an invite used as a link ticket: %v, want ErrLinkVoid", err)
	}
	// The server holds no identity key: it cannot link devices.
	if _, err := server.LinkDevice(ctx, LinkOptions{}); !errors.Is(err, ErrNoIdentityKey) {
		t.Fatalf("linking from a device without the key: %v", err)
	}
}

// TestLinkWithIdentityKey: a device linked with the identity key holds
// it, and can link a third device itself.
func TestLinkWithIdentityKey(t *testing.T) {
	laptop := openNode(t, t.TempDir())
	server := openNode(t, t.TempDir())
	phone := openNode(t, t.TempDir())
	ana, _ := newIdentity(t, laptop, "Ana", "laptop")
	if got := linkDevice(t, laptop, server, LinkOptions{WithIdentity: true}, "server"); !got.HoldsKey() {
		t.Fatal("linked with the identity, the server does not hold the key")
	}
	p := linkDevice(t, server, phone, LinkOptions{}, "phone")
	if p.ID != ana.ID {
		t.Fatalf("the phone is of %s", p.ID)
	}
}

// TestRecoverFromSeeder: Ana's laptop is lost; a fresh home given her
// phrase, with only a blind seeder of her spaces online, gets her person
// space, her name, and her private space, and writes in it as Ana.
func TestRecoverFromSeeder(t *testing.T) {
	ctx := ctxT(t)
	laptop := openNode(t, t.TempDir())
	seeder := openNode(t, t.TempDir())
	fresh := openNode(t, t.TempDir())
	ana, phrase := newIdentity(t, laptop, "Ana", "laptop")
	diary := sunnyDiary(t, laptop)
	for _, sp := range []keys.SpaceID{ana.Person, diary.ID()} {
		joinAs(t, laptop, seeder, sp.String(), commit.RoleSeed, 0)
	}
	// The seeder holds all of both before the laptop goes.
	waitFor(t, 30*time.Second, "the diary in the laptop's directory", func() bool {
		_, err := laptop.st.Get(ctx, ana.Person, []byte(dirPrefix+diary.ID().String()))
		return err == nil
	})
	waitFor(t, 30*time.Second, "the directory and the diary at the seeder", func() bool {
		return sameHeads([]*Node{laptop, seeder}, ana.Person) && sameHeads([]*Node{laptop, seeder}, diary.ID())
	})
	laptopID := laptop.Author()
	laptop.Close()

	p, err := identity.ParsePhrase(phrase.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := fresh.RecoverIdentity(ctx, p, "", IdentityOptions{Device: "new laptop", Peers: seeder.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ana.ID || !got.HoldsKey() {
		t.Fatalf("recovered %+v", got)
	}
	waitFor(t, 30*time.Second, "the directory back", func() bool {
		ok := sameHeads([]*Node{seeder, fresh}, ana.Person)
		if !ok {
			t.Logf("seeder %s fresh %s", heads(seeder, ana.Person), heads(fresh, ana.Person))
		}
		return ok
	})
	waitFor(t, 60*time.Second, "the diary back, writable", func() bool {
		e, err := fresh.st.Get(ctx, diary.ID(), []byte("day/1"))
		ok := err == nil && string(e.Value) == "sunny" && canWrite(fresh, diary.ID())
		if !ok {
			infos, _ := fresh.st.Spaces(ctx)
			t.Logf("spaces %v err %v", infos, err)
			for kv, err := range fresh.st.Range(ctx, ana.Person, store.Query{}) {
				t.Logf("%s %q %v", kv.Key, kv.Entry.Value, err)
			}
		}
		return ok
	})
	waitFor(t, 20*time.Second, "Ana's name learned", func() bool {
		id, err := fresh.Identity(ctx)
		return err == nil && id.Name == "Ana"
	})
	put(t, fresh, diary.ID(), "day/2", "found it") // the recovered device writes as Ana
	waitFor(t, 20*time.Second, "the recovered device's certificate at the seeder", func() bool {
		return hasCert(seeder, diary.ID(), fresh.Author(), ana.ID)
	})

	// The recovered device revokes the lost laptop: cut in the diary and in
	// the person's own space, at the seeder too.
	rd, err := fresh.RevokeDevice(ctx, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if rd.Device != laptopID || rd.Written < 2 {
		t.Fatalf("revoked %+v, want the laptop in the diary and the person space", rd)
	}
	for _, sp := range []keys.SpaceID{diary.ID(), ana.Person} {
		waitFor(t, 20*time.Second, "the laptop cut at the seeder", func() bool {
			acc, err := seeder.st.Access(ctx, sp)
			_, cut := acc.Cuts[laptopID]
			return err == nil && cut
		})
	}
}

// FuzzPersonValues: the values of the person space this node decodes
// (directory entries, link requests and answers) are decoded strictly
// whatever another device wrote: no panic, bounded, and an answer that is
// not a certificate of this device by the named identity is refused.
func FuzzPersonValues(f *testing.F) {
	sp := keys.SpaceID{1}
	t := keys.Ticket{Space: sp, Name: "club", Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"}, ReadKeys: []keys.EpochKey{{Epoch: 0, Key: [32]byte{2}}}}
	f.Add(mustJSON(dirEntry{Name: "club", Ticket: t.String()}))
	f.Add(mustJSON(linkRequest{Name: "phone"}))
	f.Add(mustJSON(linkAnswer{Cert: "AAAA", Person: "Ana", Key: "AAAA"}))
	f.Add([]byte(`{"name":"club","ticket":"loam2","extra":1}`))
	f.Add([]byte(`{"name":"a"} {"name":"b"}`))
	dev := keys.DeviceKeyFromSeed([32]byte{3})
	n := &Node{dev: dev}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tk, err := decodeDirEntry(sp, b); err == nil && (tk.Space != sp || !tk.Invite.IsZero()) {
			t.Fatalf("a directory entry decoded to a ticket of %s with an invite", tk.Space)
		}
		var req linkRequest
		_ = decodePersonValue(b, &req)
		var ans linkAnswer
		if decodePersonValue(b, &ans) == nil {
			if _, err := n.acceptLink(ans, keys.IdentityID{4}, sp, "phone"); err == nil {
				t.Fatal("a fuzzed answer was accepted")
			}
		}
	})
}

// TestPersonWorkerAfterRestart: a node with an identity reopened with
// networking starts its person worker once the network is set up (a race
// under -race before: the worker read the host while Open set it), and
// the worker runs: a space made after the restart gets its directory
// entry.
func TestPersonWorkerAfterRestart(t *testing.T) {
	ctx := ctxT(t)
	home := t.TempDir()
	n := openNode(t, home)
	ana, _ := newIdentity(t, n, "Ana", "")
	n.Close()
	n = openNode(t, home)
	s := newSpace(t, n, "garden")
	waitFor(t, 20*time.Second, "the garden's directory entry", func() bool {
		_, err := n.st.Get(ctx, ana.Person, []byte(dirPrefix+s.ID().String()))
		return err == nil
	})
}

// TestCarrierForgetsNoSpace: a carry into a space that is not held (a
// join that failed and dropped it) does not mark the space done, so a
// later join of it gets the certificate (found by the invperson helper).
func TestCarrierForgetsNoSpace(t *testing.T) {
	ctx := ctxT(t)
	n := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	newIdentity(t, n, "Ana", "")
	gone := keys.SpaceID{7}
	n.carryOne(ctx, gone)
	n.people.mu.Lock()
	done := n.people.done[gone]
	n.people.mu.Unlock()
	if done {
		t.Fatal("a space not held is marked done: a later join of it would never get the certificate")
	}
}

// TestLinkTicketExpires: a link ticket used after it expired is refused
// with ErrLinkVoid, and leaves the new device as it was; WaitLinked says
// it expired.
func TestLinkTicketExpires(t *testing.T) {
	defer func(v time.Duration) { linkValidity = v }(linkValidity)
	linkValidity = 300 * time.Millisecond
	ctx := ctxT(t)
	laptop := openNode(t, t.TempDir())
	phone := openNode(t, t.TempDir())
	newIdentity(t, laptop, "Ana", "")
	tk, err := laptop.LinkDevice(ctx, LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.WaitLinked(ctx, tk); !errors.Is(err, ErrLinkVoid) {
		t.Fatalf("WaitLinked on an unused ticket: %v, want ErrLinkVoid once expired", err)
	}
	linkRefused(t, phone, tk, "phone", tk.Space, "an expired link ticket")
}

// linkRefused checks that n, adding itself as device dev with the link
// ticket tk (what), is refused with ErrLinkVoid and left as it was: no
// identity, no person space person.
func linkRefused(t *testing.T, n *Node, tk keys.Ticket, dev string, person keys.SpaceID, what string) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := n.AddDevice(ctx, tk, dev); !errors.Is(err, ErrLinkVoid) {
		t.Fatalf("%s: %v, want ErrLinkVoid", what, err)
	}
	if _, err := n.Identity(ctx); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("%s left an identity", what)
	}
	if _, err := n.st.Space(ctx, person); err == nil {
		t.Fatalf("%s left the person space", what)
	}
}
