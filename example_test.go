package loam_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"testing"
	"time"

	"github.com/loamdb/loam"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "loam-example")
	defer os.RemoveAll(dir)

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

func ExampleSpace_OpenBlob() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "loam-example")
	defer os.RemoveAll(dir)

	n, err := loam.Open(ctx, loam.Options{Home: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	// In a private space a blob is sealed before it is stored or sent.
	sp, err := n.CreateSpace(ctx, "family", loam.Private)
	if err != nil {
		log.Fatal(err)
	}
	photo := bytes.Repeat([]byte("pixels "), 100_000)
	ref, err := sp.PutBlob(ctx, []byte("photos/beach"), bytes.NewReader(photo), "image/jpeg")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stored %d bytes, sealed: %v\n", ref.Size, ref.Sealed)

	r, err := sp.OpenBlob(ctx, []byte("photos/beach"))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("read back the same bytes:", bytes.Equal(got, photo))
	// Output:
	// stored 700000 bytes, sealed: true
	// read back the same bytes: true
}

func ExampleSpace_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, _ := os.MkdirTemp("", "loam-example")
	defer os.RemoveAll(dir)
	n, err := loam.Open(ctx, loam.Options{Home: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	sp, err := n.CreateSpace(ctx, "chat", loam.Public)
	if err != nil {
		log.Fatal(err)
	}

	changes, err := sp.Watch(ctx, loam.Prefix("chat/general/"))
	if err != nil {
		log.Fatal(err)
	}
	sp.Put(ctx, []byte("chat/general/0001"), []byte("hello"))
	sp.Put(ctx, []byte("chat/random/0001"), []byte("not watched"))
	sp.Delete(ctx, []byte("chat/general/0001"))

	for range 2 {
		c := <-changes
		fmt.Printf("%s deleted=%v value=%q\n", c.Key, c.Deleted, c.Value)
	}
	// Output:
	// chat/general/0001 deleted=false value="hello"
	// chat/general/0001 deleted=true value=""
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

// Connect works through the daemon that runs for a home; where none does,
// the store is opened in this process. Both give the same API.
func ExampleConnect() {
	ctx := context.Background()
	home := loam.DefaultHome()
	n, err := loam.Connect(ctx, home)
	if errors.Is(err, loam.ErrNoDaemon) {
		if errors.Is(err, loam.ErrStaleDaemon) {
			fmt.Fprintln(os.Stderr, "note:", err) // daemon.json names a daemon that does not answer
		}
		n, err = loam.Open(ctx, loam.Options{Home: home})
	}
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	sp, err := n.Space(ctx, "garden-club")
	if err != nil {
		log.Fatal(err)
	}
	// Join's first sync: wait until the space is in sync with a peer.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sp.WaitSynced(wctx); err != nil {
		log.Print(err)
	}
}
