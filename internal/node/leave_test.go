package node

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

// duBytes returns the bytes allocated to the files under dir, as du counts
// them (blocks, not lengths).
func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	n, err := testkit.DirAllocated(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rowsOf returns the rows of the closed store under home whose key holds
// id's bytes or is the name row of name: what a space left behind.
func rowsOf(t *testing.T, home string, id keys.SpaceID, name string) [][]byte {
	t.Helper()
	db, err := pebble.Open(filepath.Join(home, "store"), &pebble.Options{ReadOnly: true, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out [][]byte
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if bytes.Contains(k, id[:]) || bytes.Equal(k[1:], []byte(name)) {
			out = append(out, slices.Clone(k))
		}
	}
	return out
}

// putBlob writes data as a blob under key in sp on n.
func putBlob(t *testing.T, n *Node, sp *space.Space, key string, data []byte) blob.Ref {
	t.Helper()
	ref, _, err := n.PutBlob(ctxT(t), sp, []byte(key), bytes.NewReader(data), "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// providesSeen records the spaces a node announced to a DHT server.
type providesSeen struct {
	mu   sync.Mutex
	from string   // the announcing node's peer ID; set before it starts
	keys [][]byte // ADD_PROVIDER keys from it, in order
}

func (p *providesSeen) observe(q p2p.DHTRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q.Type == "ADD_PROVIDER" && q.From == p.from && p.from != "" {
		p.keys = append(p.keys, slices.Clone(q.Key))
	}
}

// since counts the announces of sp from the i-th on.
func (p *providesSeen) since(i int, sp keys.SpaceID) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, c := discoveryKey(sp), 0
	for _, x := range p.keys[min(i, len(p.keys)):] {
		if bytes.Equal(x, k) {
			c++
		}
	}
	return c
}

func (p *providesSeen) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys)
}

// TestLeaveFreesItsSpace is issue 14's must-show for leaving: a node
// holding two spaces with blobs, one blob in both, leaves one. The other
// is intact (its values and its blobs, the shared one too, read); the left
// one is gone from the store (no row of it), from the blob directory
// (which shrinks by its unshared blob), from the key files and from the
// DHT announcements (a real DHT server on loopback sees the other space
// announced again, the left one never); and it can be joined again from
// an invite, its data coming back from the peer that kept it.
func TestLeaveFreesItsSpace(t *testing.T) {
	ctx := ctxT(t)
	seen := &providesSeen{}
	boot := bootHost(t, seen.observe)
	home := t.TempDir()
	aKey, err := keys.LoadOrCreateDeviceKey(home)
	if err != nil {
		t.Fatal(err)
	}
	seen.mu.Lock()
	seen.from = p2p.PeerIDString(aKey.Author())
	seen.mu.Unlock()
	a := openFinder(t, home, loopbackTCP(boot.Addrs()))
	b := openNode(t, t.TempDir()) // keeps "gone": no DHT, so every announce seen is a's

	keep := newSpace(t, a, "keep")
	newSpace(t, b, "gone")
	joinAll(t, b, "gone", a)
	goneID, err := a.Resolve(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := a.openSpace(ctx, goneID)
	if err != nil {
		t.Fatal(err)
	}
	shared, own, kept := make([]byte, 1<<20+5), make([]byte, 3<<20+7), make([]byte, 1<<20+9)
	for _, p := range [][]byte{shared, own, kept} {
		crand.Read(p)
	}
	sharedRef := putBlob(t, a, keep, "photos/shared", shared)
	keptRef := putBlob(t, a, keep, "photos/kept", kept)
	putBlob(t, a, gone, "photos/shared", shared)
	ownRef := putBlob(t, a, gone, "photos/own", own)
	put(t, a, keep.ID(), "note", "stays")
	put(t, a, goneID, "note", "goes")
	waitFor(t, 30*time.Second, "both spaces announced", func() bool {
		return seen.since(0, keep.ID()) > 0 && seen.since(0, goneID) > 0
	})
	waitFor(t, 30*time.Second, "a's writes at b", func() bool {
		e, err := b.st.Get(ctx, goneID, []byte("note"))
		return err == nil && string(e.Value) == "goes" && b.BlobComplete(ownRef.ID)
	})

	plan, err := a.PlanLeave(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if plan.Space != goneID || plan.Name != "gone" || plan.Blobs != 1 || plan.BlobBytes != ownRef.Size || plan.SharedBlobs != 1 ||
		plan.OtherHolders != 1 || plan.OnlyAdmin || plan.Secret || plan.OwnCommits == 0 || plan.Unsynced != 0 || plan.Commits == 0 {
		t.Errorf("plan of gone: %+v", plan)
	}
	if p, err := a.PlanLeave(ctx, "keep"); err != nil || !p.OnlyAdmin || !p.Secret || p.OtherHolders != 0 || p.Unsynced != p.OwnCommits || p.SharedBlobs != 1 || p.Blobs != 1 {
		t.Errorf("plan of keep: %+v, %v", p, err)
	}

	blobsBefore := duBytes(t, filepath.Join(home, "blobs"))
	announced := seen.len()
	rep, err := a.Leave(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Freed < ownRef.Size {
		t.Errorf("freed %d blob bytes, want at least the own blob's %d", rep.Freed, ownRef.Size)
	}
	if drop := blobsBefore - duBytes(t, filepath.Join(home, "blobs")); drop < ownRef.Size {
		t.Errorf("the blob directory shrank by %d bytes, want at least %d", drop, ownRef.Size)
	}
	if a.blobs.HasManifest(ownRef.ID) {
		t.Error("the left space's own blob is still held")
	}
	if _, err := a.Resolve(ctx, "gone"); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("the left space resolves: %v", err)
	}
	if _, err := a.Leave(ctx, "gone"); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("leaving twice: %v", err)
	}
	for _, f := range homeFiles(t, home) {
		if len(f) > len(goneID.String()) && f[:len(goneID.String())] == goneID.String() {
			t.Errorf("file %s of the left space is left", f)
		}
	}
	for _, d := range a.Discovery() {
		if d.Space == goneID {
			t.Error("the left space is still in discovery")
		}
	}
	if slices.Contains(a.syncSpaces(), goneID) {
		t.Error("the left space is still synced")
	}
	waitFor(t, 20*time.Second, "b's session to stop sharing the left space", func() bool {
		peers, _, err := b.SpaceSync(ctx, goneID)
		return err == nil && peers == 0
	})

	// The other space is intact.
	if e, err := a.st.Get(ctx, keep.ID(), []byte("note")); err != nil || string(e.Value) != "stays" {
		t.Errorf("keep's note: %v", err)
	}
	for _, r := range []struct {
		ref  blob.Ref
		want []byte
	}{{sharedRef, shared}, {keptRef, kept}} {
		if !bytes.Equal(readBlob(t, a, r.ref.ID), r.want) {
			t.Errorf("keep's blob %s differs", r.ref.ID)
		}
	}

	// Announces go on for keep, and never again for gone.
	a.disc.mu.Lock()
	a.disc.spaces[keep.ID()].provided = time.Time{} // due now
	a.disc.mu.Unlock()
	a.kickDiscovery()
	waitFor(t, 30*time.Second, "keep announced again", func() bool { return seen.since(announced, keep.ID()) > 0 })
	if c := seen.since(announced, goneID); c != 0 {
		t.Errorf("the left space was announced %d times after the leave", c)
	}

	// Joined again from an invite: its data comes back from b.
	tk := inviteFor(t, b, "gone", commit.RoleWrite, time.Hour)
	if _, err := a.Join(ctx, tk); err != nil {
		t.Fatalf("join again after leaving: %v", err)
	}
	waitFor(t, 30*time.Second, "the left space's data back", func() bool {
		e, err := a.st.Get(ctx, goneID, []byte("note"))
		return err == nil && string(e.Value) == "goes"
	})
	r, err := a.OpenRef(ctx, goneID, ownRef)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()

	// No row of it was left by the leave: a closed store read raw.
	c := newSpace(t, a, "probe")
	if _, err := a.Leave(ctx, "probe"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if rows := rowsOf(t, home, c.ID(), "probe"); len(rows) != 0 {
		t.Errorf("%d rows of the left space are left, the first %x", len(rows), rows[0])
	}
}

// TestLeaveFinishedAtStart: a leave cut short (its record written, the
// rows gone, the files and blobs not yet) is finished by the next start,
// before the node syncs anything.
func TestLeaveFinishedAtStart(t *testing.T) {
	ctx := ctxT(t)
	home := t.TempDir()
	n, err := Open(ctx, Options{Home: home, Offline: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	sp := privateSpace(t, n, "diary")
	other := newSpace(t, n, "other")
	data := make([]byte, 2<<20)
	crand.Read(data)
	ref := putBlob(t, n, sp, "photo", data)
	// The crash: after the record and the rows, before the rest.
	if err := replaceFile(n.leaveFile(sp.ID()), []byte(sp.ID().String()+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := n.st.Forget(ctx, sp.ID()); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = openWith(t, Options{Home: home, Offline: true, NoSync: true})
	if n.blobs.HasManifest(ref.ID) || len(n.ReadKeys(sp.ID())) != 0 || slices.Contains(n.syncSpaces(), sp.ID()) {
		t.Error("the leave was not finished at start")
	}
	if fs := homeFiles(t, home); slices.ContainsFunc(fs, func(f string) bool { return bytes.HasPrefix([]byte(f), []byte(sp.ID().String())) }) {
		t.Errorf("files of the left space: %v", fs)
	}
	if _, err := n.Resolve(ctx, "other"); err != nil || !slices.Contains(n.syncSpaces(), other.ID()) {
		t.Errorf("the other space: %v", err)
	}
}

// TestLeavePersonSpace: the person's own space cannot be left, and saying
// so changes nothing.
func TestLeavePersonSpace(t *testing.T) {
	ctx := ctxT(t)
	n := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	id, _ := newIdentity(t, n, "Ana", "laptop")
	for _, f := range []func(context.Context, string) error{
		func(ctx context.Context, ref string) error { _, err := n.PlanLeave(ctx, ref); return err },
		func(ctx context.Context, ref string) error { _, err := n.Leave(ctx, ref); return err },
	} {
		if err := f(ctx, id.Person.String()); !errors.Is(err, ErrPersonSpace) {
			t.Errorf("leaving the person's own space: %v, want ErrPersonSpace", err)
		}
	}
	if _, err := n.st.Space(ctx, id.Person); err != nil {
		t.Errorf("the person's own space after the refusal: %v", err)
	}
}

// TestLeaveMarksTheDirectory: a device of a person that leaves a space
// marks it left in the person's directory: its follower does not join it
// again, while the directory keeps the space for the person's other
// devices. Joined again from an invite, the mark is cleared.
func TestLeaveMarksTheDirectory(t *testing.T) {
	ctx := ctxT(t)
	laptop := openNode(t, t.TempDir())
	server := openNode(t, t.TempDir())
	ana, _ := newIdentity(t, laptop, "Ana", "laptop")
	club := newSpace(t, laptop, "club")
	linkDevice(t, laptop, server, LinkOptions{}, "server")
	waitFor(t, 60*time.Second, "the server follows the club", func() bool {
		_, err := server.st.Space(ctx, club.ID())
		return err == nil && canWrite(server, club.ID())
	})
	if _, err := server.Leave(ctx, "club"); err != nil {
		t.Fatal(err)
	}
	mark := leftKey(club.ID(), server.Author())
	waitFor(t, 20*time.Second, "the server's leave mark at the laptop", func() bool {
		e, err := laptop.st.Get(ctx, ana.Person, mark)
		return err == nil && !e.Tombstone()
	})
	if e, err := laptop.st.Get(ctx, ana.Person, []byte(dirPrefix+club.ID().String())); err != nil || e.Tombstone() {
		t.Errorf("the directory lost the club: %v", err)
	}
	// A follower pass, with no retry pause in the way: no join starts.
	server.people.mu.Lock()
	clear(server.people.person.tried)
	server.people.mu.Unlock()
	if err := server.personPass(ctx); err != nil {
		t.Fatal(err)
	}
	server.people.mu.Lock()
	following := server.people.person.following[club.ID()]
	server.people.mu.Unlock()
	if _, err := server.st.Space(ctx, club.ID()); following || err == nil {
		t.Fatalf("the follower joins the left space again (following %v, held %v)", following, err == nil)
	}

	// Joined again from an invite: the mark goes.
	joinAs(t, laptop, server, "club", commit.RoleWrite, time.Hour)
	waitFor(t, 20*time.Second, "the leave mark cleared", func() bool {
		e, err := laptop.st.Get(ctx, ana.Person, mark)
		return err == nil && e.Tombstone() || errors.Is(err, store.ErrNotFound)
	})
}

// TestLeaveUnqueuesItsBlobs: the blobs of a left space waiting for the
// eager fetcher are unqueued (they would be downloaded for nothing);
// those of the other spaces stay queued.
func TestLeaveUnqueuesItsBlobs(t *testing.T) {
	ctx := ctxT(t)
	n := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	gone := newSpace(t, n, "gone")
	keep := newSpace(t, n, "keep")
	goneRef := putBlob(t, n, gone, "photo", []byte("gone's photo"))
	keepRef := putBlob(t, n, keep, "photo", []byte("keep's photo"))
	n.wanted.add(goneRef.ID, goneRef.Size) // as if another member's, not here yet
	n.wanted.add(keepRef.ID, keepRef.Size)
	if _, err := n.Leave(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if n.wanted.size(goneRef.ID) != 0 || n.wanted.size(keepRef.ID) != keepRef.Size {
		t.Errorf("queued after the leave: gone's %d bytes, keep's %d", n.wanted.size(goneRef.ID), n.wanted.size(keepRef.ID))
	}
}
