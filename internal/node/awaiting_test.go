package node

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
)

// TestAwaitingOwnHistory: a device restored with only part of its own
// history in a space (its first commit, not its later ones) refuses to
// write there while it awaits the rest — a write would sign a second
// commit at seq 2, a fork — and writes once in sync with a peer, after
// its own commits, with no fork anywhere. Without the hold, the restored
// device's write forks it (shown first, on a copy).
func TestAwaitingOwnHistory(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	bHome := t.TempDir()
	b := openNode(t, bHome)
	id, tk := invited(t, a, "club")
	sp := joinWith(t, b, tk)
	for _, k := range []string{"one", "two", "three"} {
		if _, err := sp.Commit(ctx, []commit.Op{commit.Put([]byte(k), []byte("b"))}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "b's commits at a", func() bool { return sameHeads([]*Node{a, b}, id) })
	me := b.Author()
	b.Close()

	// The restored home: b's device key, the space held with every commit
	// but b's after its first.
	restored := func(t *testing.T, await bool) string {
		home := t.TempDir()
		key, err := os.ReadFile(filepath.Join(bHome, keys.DeviceKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, keys.DeviceKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
		r := openWith(t, Options{Home: home, Offline: true, NoSync: true})
		if err := r.st.AddSpace(ctx, "club", id); err != nil {
			t.Fatal(err)
		}
		var cs []*commit.Commit
		for _, who := range []keys.AuthorID{keys.AuthorID(id), a.Author(), me} {
			for sc, err := range a.st.Commits(ctx, id, who, 1) {
				if err != nil {
					t.Fatal(err)
				}
				if who == me && sc.Seq > 1 {
					break
				}
				c, err := commit.Decode(sc.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
		}
		if _, err := r.st.Apply(ctx, id, cs); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if await {
			if err := WriteAwaiting(home, []keys.SpaceID{id}); err != nil {
				t.Fatal(err)
			}
		}
		return home
	}

	// Without the hold: the write is seq 2 again, a fork once synced.
	bad := openWith(t, Options{Home: restored(t, false), Offline: true, NoSync: true})
	s, err := bad.Space(ctx, "club")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Commit(ctx, []commit.Op{commit.Put([]byte("oops"), nil)})
	if err != nil {
		t.Fatalf("without the hold, the write is taken: %v", err)
	}
	if c.Seq != 2 {
		t.Fatalf("the write is seq %d, want 2 (the fork this test is about)", c.Seq)
	}
	bad.Close()

	// With it: refused offline, and across restarts, until in sync.
	home := restored(t, true)
	r := openWith(t, Options{Home: home, Offline: true, NoSync: true})
	s, err = r.Space(ctx, "club")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, []commit.Op{commit.Put([]byte("oops"), nil)}); !errors.Is(err, space.ErrAwaiting) || !errors.Is(err, space.ErrReadOnly) {
		t.Fatalf("a write awaiting the device's history: %v, want ErrAwaiting", err)
	}
	r.Close()
	r = openNode(t, home)
	if _, err := r.Connect(ctx, a.Addrs()[0]+"/p2p/"+a.PeerID()); err != nil {
		t.Fatal(err)
	}
	s, err = r.Space(ctx, "club")
	if err != nil {
		t.Fatal(err)
	}
	var cerr error
	waitFor(t, 30*time.Second, "the write allowed once in sync", func() bool {
		c, cerr = s.Commit(ctx, []commit.Op{commit.Put([]byte("four"), []byte("b"))})
		return cerr == nil
	})
	if c.Seq != 5 { // its join, then three writes, came back
		t.Fatalf("the first write after the restore is seq %d, want 5", c.Seq)
	}
	waitFor(t, 20*time.Second, "the write at a", func() bool { return sameHeads([]*Node{a, r}, id) })
	if fs, err := a.st.Forks(ctx, id); err != nil || len(fs) != 0 {
		t.Fatalf("forks at a: %v, %v", fs, err)
	}
	if _, err := os.Stat(filepath.Join(home, awaitingFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the awaiting file stays: %v", err)
	}
}
