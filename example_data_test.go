package loam_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/loamdb/loam"
)

func ExampleSpace_Get() {
	ctx := context.Background()
	_, sp, done := exampleSpace(ctx, "garden-club", loam.Public)
	defer done()

	// Put returns once the write is signed and durable on disk.
	if err := sp.Put(ctx, []byte("tools/drill"), []byte("cordless, 18V")); err != nil {
		log.Fatal(err)
	}
	v, err := sp.Get(ctx, []byte("tools/drill"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("drill: %s\n", v)

	_, err = sp.Get(ctx, []byte("tools/mower"))
	fmt.Println("mower found:", !errors.Is(err, loam.ErrNotFound))
	// Output:
	// drill: cordless, 18V
	// mower found: false
}

// Lookup tells who wrote a key's value, and when.
func ExampleSpace_Lookup() {
	ctx := context.Background()
	n, sp, done := exampleDrill(ctx) // tools/drill = cordless, 18V
	defer done()

	kv, err := sp.Lookup(ctx, []byte("tools/drill"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s, written by this device: %v, dated: %v\n",
		kv.Key, kv.Value, kv.Author == n.Author(), !kv.Time.IsZero())
	// Output:
	// tools/drill = cordless, 18V, written by this device: true, dated: true
}

// A delete writes a tombstone, which replicas merge like any write: the
// key is gone everywhere once they have synced.
func ExampleSpace_Delete() {
	ctx := context.Background()
	_, sp, done := exampleDrill(ctx) // tools/drill = cordless, 18V
	defer done()

	if err := sp.Delete(ctx, []byte("tools/drill")); err != nil {
		log.Fatal(err)
	}
	_, err := sp.Get(ctx, []byte("tools/drill"))
	fmt.Println("deleted:", errors.Is(err, loam.ErrNotFound))
	// Output:
	// deleted: true
}

// A batch is one signed commit: every write of it lands, on every
// replica, or none does.
func ExampleSpace_Batch() {
	ctx := context.Background()
	_, sp, done := exampleSpace(ctx, "garden-club", loam.Public)
	defer done()
	if err := sp.Put(ctx, []byte("loans/drill"), []byte("ana")); err != nil {
		log.Fatal(err)
	}

	// Hand the drill back and lend the ladder, together.
	b := sp.Batch()
	b.Delete([]byte("loans/drill"))
	b.Put([]byte("loans/ladder"), []byte("ben"))
	b.Put([]byte("log/0001"), []byte("drill back from ana, ladder to ben"))
	if err := b.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	for kv, err := range sp.Range(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s = %s\n", kv.Key, kv.Value)
	}

	// Invalid writes are reported by Commit, and nothing of the batch is
	// written.
	b = sp.Batch()
	b.Put([]byte("loans/saw"), []byte("cleo"))
	b.Put(nil, []byte("no key"))
	fmt.Println(b.Commit(ctx))
	// Output:
	// loans/ladder = ben
	// log/0001 = drill back from ana, ladder to ben
	// loam: write 2: empty key
}

func ExampleSpace_Range() {
	ctx := context.Background()
	_, sp, done := exampleSpace(ctx, "chat", loam.Public)
	defer done()
	b := sp.Batch()
	for _, k := range []string{"msg/0001", "msg/0002", "msg/0003", "msg/0004", "topic"} {
		b.Put([]byte(k), []byte("…"))
	}
	if err := b.Commit(ctx); err != nil {
		log.Fatal(err)
	}

	// keys prints the keys a Range yields; a program reads kv.Value too.
	keys := func(opts ...loam.RangeOption) {
		var got []string
		for kv, err := range sp.Range(ctx, opts...) {
			if err != nil {
				log.Fatal(err)
			}
			got = append(got, string(kv.Key))
		}
		fmt.Println(strings.Join(got, " "))
	}
	keys(loam.Prefix("msg/"))
	keys(loam.Start("msg/0002"), loam.End("msg/0004"))       // from Start, up to End
	keys(loam.Prefix("msg/"), loam.Reverse(), loam.Limit(2)) // the latest two
	// Output:
	// msg/0001 msg/0002 msg/0003 msg/0004
	// msg/0002 msg/0003
	// msg/0004 msg/0003
}

func ExampleSpace_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the watch
	_, sp, done := exampleSpace(ctx, "chat", loam.Public)
	defer done()

	// Every change applied from now on to a key of the prefix arrives,
	// whether this device or a peer wrote it.
	changes, err := sp.Watch(ctx, loam.Prefix("chat/general/"))
	if err != nil {
		log.Fatal(err)
	}
	b := sp.Batch()
	b.Put([]byte("chat/general/0001"), []byte("hello"))
	b.Put([]byte("chat/random/0001"), []byte("not watched"))
	if err := b.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	if err := sp.Delete(ctx, []byte("chat/general/0001")); err != nil {
		log.Fatal(err)
	}

	// (A reader that falls far behind gets a Change with Resync set
	// instead of those it missed: see Change.Resync.)
	for range 2 {
		c := <-changes
		fmt.Printf("%s deleted=%v value=%q\n", c.Key, c.Deleted, c.Value)
	}
	// Output:
	// chat/general/0001 deleted=false value="hello"
	// chat/general/0001 deleted=true value=""
}

// State's hash is equal on every replica with the same visible keys and
// values: two members compare it to know they agree.
func ExampleSpace_State() {
	ctx := context.Background()
	_, sp, done := exampleDrill(ctx) // tools/drill = cordless, 18V
	defer done()
	before, err := sp.State(ctx)
	if err != nil {
		log.Fatal(err)
	}

	if err := sp.Put(ctx, []byte("tools/saw"), []byte("hand saw")); err != nil {
		log.Fatal(err)
	}
	after, err := sp.State(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("keys %d then %d, hash changed: %v\n", before.Keys, after.Keys, before.Hash != after.Hash)
	// Output:
	// keys 1 then 2, hash changed: true
}

// Verify re-checks the whole signed history held here, as a member who
// doubts its copy (or a peer's) would.
func ExampleSpace_Verify() {
	ctx := context.Background()
	_, sp, done := exampleDrill(ctx) // tools/drill = cordless, 18V
	defer done()

	report, err := sp.Verify(ctx)
	if errors.Is(err, loam.ErrInvalidLog) {
		log.Fatalf("the copy held here is damaged or forged: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	// The genesis, signed by the space key, and this device's write.
	fmt.Printf("%d commits, %d writes, %d authors, %d forks\n",
		report.Commits, report.Ops, report.Authors, report.Forks)
	// Output:
	// 2 commits, 2 writes, 2 authors, 0 forks
}
