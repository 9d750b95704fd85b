package loam_test

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"path/filepath"
	"slices"
	"time"

	"github.com/loamdb/loam"
)

// networked returns the options of an example's networked node in home,
// listening on loopback only (a program leaves Listen nil: every
// interface).
func networked(home string) loam.Options {
	return loam.Options{Home: home, Network: true, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
}

// twoDevices opens Alice's and Bob's networked nodes in new temporary
// homes; done closes them and removes the homes.
func twoDevices(ctx context.Context) (alice, bob *loam.Node, done func()) {
	dir, remove := tempHome()
	alice, err := loam.Open(ctx, networked(filepath.Join(dir, "alice")))
	if err == nil {
		bob, err = loam.Open(ctx, networked(filepath.Join(dir, "bob")))
		if err != nil {
			alice.Close()
		}
	}
	if err != nil {
		remove()
		log.Fatal(err)
	}
	return alice, bob, func() { bob.Close(); alice.Close(); remove() }
}

// exampleClub opens Alice's and Bob's nodes as twoDevices does, and
// creates Alice's public space "garden-club".
func exampleClub(ctx context.Context) (alice, bob *loam.Node, club *loam.Space, done func()) {
	alice, bob, done = twoDevices(ctx)
	club, err := alice.CreateSpace(ctx, "garden-club", loam.Public)
	if err != nil {
		done()
		log.Fatal(err)
	}
	return alice, bob, club, done
}

// Two devices in one process, networked on loopback: Alice invites Bob
// to her space, Bob joins with the ticket and waits for the first sync,
// and Alice sees what Bob writes.
func ExampleNode_Join() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, bob, club, done := exampleClub(ctx) // Alice's club
	defer done()

	if err := club.Put(ctx, []byte("tools/drill"), []byte("cordless, 18V")); err != nil {
		log.Fatal(err)
	}
	// The ticket ("loam2…") carries an invite key and Alice's addresses:
	// she sends it to Bob as a link or a QR code.
	ticket, err := club.Invite(ctx, loam.Write, 7*24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	changes, err := club.Watch(ctx, loam.Prefix("tools/"))
	if err != nil {
		log.Fatal(err)
	}

	// Join returns once Bob's membership is stored; WaitSynced waits for
	// the end of the first sync, when Bob holds what Alice had.
	bobsClub, err := bob.Join(ctx, ticket)
	if err != nil {
		log.Fatal(err)
	}
	if err := bobsClub.WaitSynced(ctx); err != nil {
		log.Fatal(err)
	}
	v, err := bobsClub.Get(ctx, []byte("tools/drill"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bob reads tools/drill in %s: %s\n", bobsClub.Name(), v)

	if err := bobsClub.Put(ctx, []byte("tools/ladder"), []byte("3 m, aluminium")); err != nil {
		log.Fatal(err)
	}
	c := <-changes
	fmt.Printf("alice sees %s = %s, by bob: %v\n", c.Key, c.Value, c.Author == bob.Author())
	// Output:
	// bob reads tools/drill in garden-club: cordless, 18V
	// alice sees tools/ladder = 3 m, aluminium, by bob: true
}

// An admin lists the space's members and revokes one: the member's
// commits after the latest one the admin holds stop counting on every
// replica.
func ExampleSpace_Revoke() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice, bob, club, done := exampleClub(ctx)
	defer done()
	ticket, err := club.InviteUses(ctx, loam.Write, 7*24*time.Hour, 1) // for one device
	if err != nil {
		log.Fatal(err)
	}
	// Bob joins and says hello; once Alice has his hello she holds his
	// join too.
	hello, err := club.Watch(ctx, loam.Prefix("hello/"))
	if err != nil {
		log.Fatal(err)
	}
	bobsClub, err := bob.Join(ctx, ticket)
	if err != nil {
		log.Fatal(err)
	}
	if err := bobsClub.Put(ctx, []byte("hello/bob"), []byte("hi all")); err != nil {
		log.Fatal(err)
	}
	<-hello

	// Members are in author order; name them for this example's output.
	who := map[string]string{alice.Author(): "alice", bob.Author(): "bob"}
	name := func(author string) string { return cmp.Or(who[author], "an invite") }
	members, err := club.Members(ctx)
	if err != nil {
		log.Fatal(err)
	}
	slices.SortFunc(members, func(a, b loam.Member) int { return cmp.Compare(name(a.Author), name(b.Author)) })
	for _, m := range members {
		if m.Invite {
			fmt.Printf("%s for %s, used by %s\n", name(m.Author), m.Grants[0].Role, name(m.Joined[0]))
			continue
		}
		fmt.Printf("%s: %s\n", name(m.Author), m.Role)
	}

	revoked, err := club.Revoke(ctx, bob.Author())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("revoked %s after his commit %d\n", name(revoked.Author), revoked.LastSeq)
	members, err = club.Members(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range members {
		if m.Author == bob.Author() {
			fmt.Printf("bob: role %q, revoked by alice: %v\n", m.Role, m.Revoked != nil && m.Revoked.By == alice.Author())
		}
	}
	// Output:
	// alice: admin
	// an invite for write, used by bob
	// bob: write
	// revoked bob after his commit 2
	// bob: role "", revoked by alice: true
}

// An invite can be limited in time and in uses, and revoked by its ticket
// until it is used (a device that joined is revoked by its author ID).
func ExampleSpace_Invite() {
	ctx := context.Background()
	_, club, done := exampleSpace(ctx, "garden-club", loam.Public)
	defer done()

	// A ticket for three devices, that can be used for a week.
	ticket, err := club.InviteUses(ctx, loam.Read, 7*24*time.Hour, 3)
	if err != nil {
		log.Fatal(err)
	}
	members, err := club.Members(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range members {
		if m.Invite {
			g := m.Grants[0]
			fmt.Printf("an invite for %s, %d uses, expires: %v\n", g.Role, g.Uses, g.Expires != nil)
		}
	}

	// It was sent to the wrong group chat.
	revoked, err := club.Revoke(ctx, ticket)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked an invite:", revoked.Invite)
	// Output:
	// an invite for read, 3 uses, expires: true
	// revoked an invite: true
}

// Bob edits while offline, and Alice edits the same key before they meet
// again: once they have synced, both see the same value (the later
// write), and the other one as a conflict that an app may show.
func ExampleSpace_Conflicts() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, remove := tempHome()
	defer remove()
	aliceHome, bobHome := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	alice, err := loam.Open(ctx, networked(aliceHome))
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	club, err := alice.CreateSpace(ctx, "garden-club", loam.Public)
	if err != nil {
		log.Fatal(err)
	}
	ticket, err := club.Invite(ctx, loam.Write, 0)
	if err != nil {
		log.Fatal(err)
	}

	// Bob joins, then goes offline and writes.
	bob, err := loam.Open(ctx, networked(bobHome))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := bob.Join(ctx, ticket); err != nil {
		log.Fatal(err)
	}
	bob.Close()
	bob, err = loam.Open(ctx, loam.Options{Home: bobHome}) // no network
	if err != nil {
		log.Fatal(err)
	}
	bobsClub, err := bob.Space(ctx, "garden-club")
	if err != nil {
		log.Fatal(err)
	}
	if err := bobsClub.Put(ctx, []byte("meeting"), []byte("tuesday")); err != nil {
		log.Fatal(err)
	}
	bob.Close()

	// Alice, who has not seen Bob's write, writes later.
	if err := club.Put(ctx, []byte("meeting"), []byte("thursday")); err != nil {
		log.Fatal(err)
	}

	// Bob comes back online and syncs.
	bob, err = loam.Open(ctx, networked(bobHome))
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Connect(ctx, alice.Addrs()[0]); err != nil {
		log.Fatal(err)
	}
	bobsClub, err = bob.Space(ctx, "garden-club")
	if err != nil {
		log.Fatal(err)
	}
	if err := bobsClub.WaitSynced(ctx); err != nil {
		log.Fatal(err)
	}
	v, err := bobsClub.Get(ctx, []byte("meeting"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("meeting: %s\n", v)
	conflicts, err := bobsClub.Conflicts(ctx, []byte("meeting"))
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range conflicts {
		fmt.Printf("lost: %s, by bob: %v\n", c.Value, c.Author == bob.Author())
	}
	// Output:
	// meeting: thursday
	// lost: tuesday, by bob: true
}
