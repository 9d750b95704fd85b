package loam_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"testing"

	"github.com/loamdb/loam"
)

// The examples open their node in a temporary home, which they remove; a
// program passes its own (or "" for DefaultHome).

// tempHome returns a new temporary directory for an example's homes, and
// a func that removes it.
func tempHome() (dir string, remove func()) {
	dir, err := os.MkdirTemp("", "loam-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}

// exampleNode opens a node in a new temporary home; done closes it and
// removes the home.
func exampleNode(ctx context.Context) (n *loam.Node, done func()) {
	dir, remove := tempHome()
	n, err := loam.Open(ctx, loam.Options{Home: dir})
	if err != nil {
		remove()
		log.Fatal(err)
	}
	return n, func() { n.Close(); remove() }
}

// exampleSpace opens a node as exampleNode does and creates a space in it.
func exampleSpace(ctx context.Context, name string, vis loam.Visibility) (*loam.Node, *loam.Space, func()) {
	n, done := exampleNode(ctx)
	sp, err := n.CreateSpace(ctx, name, vis)
	if err != nil {
		done()
		log.Fatal(err)
	}
	return n, sp, done
}

// exampleDrill opens a node with a space as exampleSpace does, a public
// "garden-club" whose key tools/drill holds "cordless, 18V".
func exampleDrill(ctx context.Context) (*loam.Node, *loam.Space, func()) {
	n, sp, done := exampleSpace(ctx, "garden-club", loam.Public)
	if err := sp.Put(ctx, []byte("tools/drill"), []byte("cordless, 18V")); err != nil {
		done()
		log.Fatal(err)
	}
	return n, sp, done
}

func Example() {
	ctx := context.Background()
	dir, remove := tempHome()
	defer remove()

	n, err := loam.Open(ctx, loam.Options{Home: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	sp, err := n.CreateSpace(ctx, "garden-club", loam.Public)
	if err != nil {
		log.Fatal(err)
	}
	if err := sp.Put(ctx, []byte("tools/drill"), []byte("cordless, 18V")); err != nil {
		log.Fatal(err)
	}
	b := sp.Batch()
	b.Put([]byte("tools/ladder"), []byte("3 m, aluminium"))
	b.Put([]byte("tools/saw"), []byte("hand saw"))
	b.Delete([]byte("tools/ladder"))
	if err := b.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	v, err := sp.Get(ctx, []byte("tools/drill"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("drill: %s\n", v)
	for kv, err := range sp.Range(ctx, loam.Prefix("tools/")) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s = %s\n", kv.Key, kv.Value)
	}
	report, err := sp.Verify(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("verified %d commits by %d authors\n", report.Commits, report.Authors)
	// Output:
	// drill: cordless, 18V
	// tools/drill = cordless, 18V
	// tools/saw = hand saw
	// verified 3 commits by 2 authors
}

// A home is opened by one process at a time: while it is open (by a
// daemon, say), Open fails with ErrInUse, and Connect reaches the process
// that holds it.
func ExampleOpen() {
	ctx := context.Background()
	dir, remove := tempHome()
	defer remove()

	n, err := loam.Open(ctx, loam.Options{Home: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	fmt.Println("opened in this process:", !n.Daemon())

	_, err = loam.Open(ctx, loam.Options{Home: dir})
	fmt.Println("opened twice:", errors.Is(err, loam.ErrInUse))
	// Output:
	// opened in this process: true
	// opened twice: true
}

// A program that should work whether or not 'loam daemon' runs for its
// home Connects, and opens the store itself when no daemon answers. Both
// Nodes offer the same API. (No daemon runs for this example's new home,
// and the public API does not start one, so here Connect falls back;
// Connect to a running daemon is tested in connect_test.go.)
func ExampleConnect() {
	ctx := context.Background()
	home, remove := tempHome() // a program: loam.DefaultHome()
	defer remove()

	n, err := loam.Connect(ctx, home)
	if errors.Is(err, loam.ErrNoDaemon) {
		if errors.Is(err, loam.ErrStaleDaemon) {
			// daemon.json names a daemon that does not answer: say so.
			fmt.Fprintln(os.Stderr, "note:", err)
		}
		n, err = loam.Open(ctx, loam.Options{Home: home})
	}
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	fmt.Println("through a daemon:", n.Daemon())
	// Output:
	// through a daemon: false
}

func ExampleNode_CreateSpace() {
	ctx := context.Background()
	n, done := exampleNode(ctx)
	defer done()

	// A private space's keys, values and blobs are sealed under a read
	// key that only its members hold.
	sp, err := n.CreateSpace(ctx, "family", loam.Private)
	if err != nil {
		log.Fatal(err)
	}
	role, err := sp.Role(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: private %v, my role %s\n", sp.Name(), sp.Info().Private, role)

	// Names are local to this node, and unique in it.
	_, err = n.CreateSpace(ctx, "family", loam.Public)
	fmt.Println("name taken:", errors.Is(err, loam.ErrNameTaken))
	// Output:
	// family: private true, my role admin
	// name taken: true
}

// A space is found again by its local name or by its ID, which is the same
// on every member's device.
func ExampleNode_Space() {
	ctx := context.Background()
	n, created, done := exampleSpace(ctx, "garden-club", loam.Public)
	defer done()

	byName, err := n.Space(ctx, "garden-club")
	if err != nil {
		log.Fatal(err)
	}
	byID, err := n.Space(ctx, created.ID())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(byName.ID() == created.ID(), byID.Name())

	_, err = n.Space(ctx, "chess-club")
	fmt.Println("chess-club held:", !errors.Is(err, loam.ErrUnknownSpace))
	// Output:
	// true garden-club
	// chess-club held: false
}

func ExampleNode_Spaces() {
	ctx := context.Background()
	n, done := exampleNode(ctx)
	defer done()
	for _, name := range []string{"street", "family"} {
		vis := loam.Public
		if name == "family" {
			vis = loam.Private
		}
		if _, err := n.CreateSpace(ctx, name, vis); err != nil {
			log.Fatal(err)
		}
	}

	spaces, err := n.Spaces(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range spaces {
		fmt.Printf("%s private=%v\n", s.Name, s.Private)
	}
	// Output:
	// family private=true
	// street private=false
}

func TestOpenTwiceIsInUse(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	n, err := loam.Open(ctx, loam.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := loam.Open(ctx, loam.Options{Home: home}); !errors.Is(err, loam.ErrInUse) {
		t.Fatalf("second Open of a home in use: err = %v, want ErrInUse", err)
	}
}

// TestRangeLimitNone: Limit(n) with n ≤ 0 selects no keys, embedded and
// through a daemon, so a page size computed down to 0 reads nothing
// rather than the whole space.
func TestRangeLimitNone(t *testing.T) {
	ctx := ctxT(t)
	eachVia(t, func(t *testing.T, n *loam.Node) {
		sp := must(n.CreateSpace(ctx, "pages", loam.Public))(t)
		for _, k := range []string{"a", "b", "c"} {
			if err := sp.Put(ctx, []byte(k), []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		for _, limit := range []int{0, -1} {
			if got := keysOf(t, sp, loam.Limit(limit)); len(got) != 0 {
				t.Errorf("Range with Limit(%d) yields %q, want none", limit, got)
			}
		}
		if got := keysOf(t, sp, loam.Limit(1), loam.Reverse()); !slices.Equal(got, []string{"c"}) {
			t.Errorf("Range with Limit(1), Reverse yields %q", got)
		}
	})
}
