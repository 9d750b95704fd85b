package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// piecesSpace is a space whose revocation rebuilds a view of many cells:
// an admin and two writers, the writers' puts over keys k000 to k199,
// and the admin's revocation of the second writer after its fifth
// commit, which takes its later writes out of the view.
type piecesSpace struct {
	sp      keys.SpaceID
	genesis *commit.Commit
	puts    []*commit.Commit
	revoke  *commit.Commit
	after   *commit.Commit // a put of the admin's after the revocation
}

func newPiecesSpace(t *testing.T) *piecesSpace { return seededPiecesSpace(t, 7) }

// seededPiecesSpace is a piecesSpace whose keys are drawn from seed (7:
// newPiecesSpace's); two seeds give two spaces with different authors.
func seededPiecesSpace(t *testing.T, seed byte) *piecesSpace {
	t.Helper()
	sk := keys.SpaceKeyFromSeed([32]byte{seed})
	p := &piecesSpace{sp: sk.Space()}
	dev := func(i byte) keys.DeviceKey { return keys.DeviceKeyFromSeed([32]byte{8, i, seed - 7}) }
	p.genesis = newAuthor(t, p.sp, sk).next(
		commit.GrantOp(commit.Grant{Subject: dev(0).Author(), Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: dev(1).Author(), Role: commit.RoleWrite}),
		commit.GrantOp(commit.Grant{Subject: dev(2).Author(), Role: commit.RoleWrite}),
	)
	admin := newAuthor(t, p.sp, dev(0))
	admin.deps = []keys.CommitID{p.genesis.ID}
	var ws []*author
	for i := range 2 {
		w := newAuthor(t, p.sp, dev(byte(i+1)))
		w.deps = []keys.CommitID{p.genesis.ID}
		ws = append(ws, w)
	}
	for i := range 60 {
		w := ws[i%2]
		var ops []commit.Op
		for j := range 4 {
			ops = append(ops, commit.Put(fmt.Appendf(nil, "k%03d", (i*7+j*31)%200), fmt.Appendf(nil, "v%d.%d", i, j)))
		}
		p.puts = append(p.puts, w.next(ops...))
	}
	admin.deps = []keys.CommitID{p.puts[len(p.puts)-1].ID, p.puts[len(p.puts)-2].ID}
	p.revoke = admin.next(commit.RevokeOp(commit.Revoke{Author: dev(2).Author(), LastSeq: 5}))
	p.after = admin.next(commit.Put([]byte("k000"), []byte("after")))
	return p
}

// open opens a store on fs holding the space and its puts, deciding every
// revocation from the whole space, in pieces of pieceBytes.
func (p *piecesSpace) open(t *testing.T, fs vfs.FS, pieceBytes int) *store.Store {
	t.Helper()
	st, err := store.Open("db", store.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store.SetFullRedecide(st, true)
	store.SetPieceBytes(st, pieceBytes)
	if err := st.CreateSpace(context.Background(), "s", p.genesis); err != nil {
		t.Fatal(err)
	}
	p.apply(t, st, p.puts...)
	return st
}

// apply applies cs to st, each Applied.
func (p *piecesSpace) apply(t *testing.T, st *store.Store, cs ...*commit.Commit) store.Result {
	t.Helper()
	res, err := st.Apply(context.Background(), p.sp, cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes {
		if o.Status != store.Applied {
			t.Fatalf("%s: %s (%v)", cs[i], o.Status, o.Err)
		}
	}
	return res
}

// sameSpace fails unless a and b hold the same view, cells, superseded
// writes, invalid rows with reasons, cuts and revoking rows for sp.
func sameSpace(t *testing.T, a, b *store.Store, sp keys.SpaceID) {
	t.Helper()
	ctx := context.Background()
	va, err := a.View(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.View(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if va.Hash != vb.Hash || va.Visible != vb.Visible {
		t.Errorf("view: %s (%d keys), want %s (%d keys)", va.Hash, va.Visible, vb.Hash, vb.Visible)
	}
	for name, tag := range store.DecisionTables {
		ra, err := store.Rows(a, tag, sp)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := store.Rows(b, tag, sp)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(ra, rb) {
			t.Errorf("%s rows: %d, want %d, not the same", name, len(ra), len(rb))
		}
	}
}

// TestRebuildCommitsInPieces: a rebuilt view is committed in batches of
// about the piece size, not in one batch holding every cell row of the
// space (#16). Before the rebuild committed in pieces, the revocation's
// rebuild committed one batch of every row it wrote.
func TestRebuildCommitsInPieces(t *testing.T) {
	const piece = 8 << 10
	p := newPiecesSpace(t)
	st := p.open(t, vfs.NewMem(), piece)
	var sizes []int
	store.SetBatchSeen(st, func(b *pebble.Batch) { sizes = append(sizes, len(b.Repr())) })
	res := p.apply(t, st, p.revoke)
	store.SetBatchSeen(st, nil)
	if len(res.Changes) == 0 {
		t.Fatal("the revocation changed nothing in the view")
	}
	// The group's batch, then the rebuild's pieces.
	if len(sizes) < 4 {
		t.Fatalf("%d batches %v: the rebuild did not commit in pieces", len(sizes), sizes)
	}
	for _, n := range sizes[1:] {
		if n > 2*piece {
			t.Errorf("a rebuild's batch of %d bytes, pieces of %d: %v", n, piece, sizes)
		}
	}
	ref := p.open(t, vfs.NewMem(), 0)
	refRes := p.apply(t, ref, p.revoke)
	sameSpace(t, st, ref, p.sp)
	if a, b := changeSet(res.Changes), changeSet(refRes.Changes); !equalStrings(a, b) {
		t.Errorf("changes in pieces %v, in one piece %v", a, b)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRebuildReadersSeeTheViewBefore: while a rebuild commits its pieces,
// readers see the view before it, whole (its hash, a key the revocation
// takes out), and the new view once the last piece is committed.
func TestRebuildReadersSeeTheViewBefore(t *testing.T) {
	ctx := context.Background()
	p := newPiecesSpace(t)
	st := p.open(t, vfs.NewMem(), 4<<10)
	before, err := st.View(ctx, p.sp)
	if err != nil {
		t.Fatal(err)
	}
	gone := p.puts[len(p.puts)-1].Ops[0].Key // the revoked writer's last put
	if _, err := st.Get(ctx, p.sp, gone); err != nil {
		t.Fatalf("get %q before: %v", gone, err)
	}
	pieces := 0
	store.SetHook(st, func(point string, _ *commit.Commit) error {
		if point != "piece" {
			return nil
		}
		pieces++
		v, err := st.View(ctx, p.sp)
		if err != nil || v.Hash != before.Hash || v.Visible != before.Visible {
			t.Errorf("piece %d: a reader sees the view %s (%d keys), %v; want the view before, %s (%d keys)", pieces, v.Hash, v.Visible, err, before.Hash, before.Visible)
		}
		if _, err := st.Get(ctx, p.sp, gone); err != nil {
			t.Errorf("piece %d: get %q: %v; want the value before the rebuild", pieces, gone, err)
		}
		return nil
	})
	p.apply(t, st, p.revoke)
	store.SetHook(st, nil)
	if pieces < 2 {
		t.Fatalf("%d pieces", pieces)
	}
	after, err := st.View(ctx, p.sp)
	if err != nil || after.Hash == before.Hash {
		t.Errorf("after the rebuild: %s, %v; want a new view", after.Hash, err)
	}
}

// TestRebuildCrashBetweenPieces: a crash after a piece of the rebuilt
// view is durable and before the last leaves a store that, opened again,
// rebuilds the view on its next write: then its view, cells, superseded
// writes, decisions and outcomes are those of a store that never crashed.
// Pieces of one byte end one after each invalid row first (the first
// ones hold the decision, not yet the view), then after each commit
// replayed.
func TestRebuildCrashBetweenPieces(t *testing.T) {
	for _, c := range []struct{ size, at int }{{4 << 10, 1}, {4 << 10, 2}, {4 << 10, 5}, {1, 1}, {1, 20}, {1, 60}} {
		t.Run(fmt.Sprintf("pieces of %d bytes, after piece %d", c.size, c.at), func(t *testing.T) {
			at := c.at
			p := newPiecesSpace(t)
			fs := vfs.NewCrashableMem()
			st := p.open(t, fs, c.size)
			var crashed *vfs.MemFS
			pieces := 0
			store.SetHook(st, func(point string, _ *commit.Commit) error {
				if point == "piece" {
					if pieces++; pieces == at {
						crashed = fs.CrashClone(vfs.CrashCloneCfg{})
					}
				}
				return nil
			})
			p.apply(t, st, p.revoke)
			store.SetHook(st, nil)
			if crashed == nil {
				t.Fatalf("%d pieces: no crash", pieces)
			}
			p.apply(t, st, p.after)

			again, err := store.Open("db", store.Options{FS: crashed})
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			// Before any write: Open rebuilt the view, and a reader sees
			// the whole new view, not pieces of it beside the old cells.
			ref := p.open(t, vfs.NewMem(), 0)
			p.apply(t, ref, p.revoke)
			sameSpace(t, again, ref, p.sp)
			p.apply(t, again, p.after)
			sameSpace(t, again, st, p.sp)
			p.apply(t, ref, p.after)
			sameSpace(t, again, ref, p.sp)
			voided, err := again.Voided(context.Background(), p.sp)
			if err != nil || len(voided) == 0 {
				t.Errorf("voided %v, %v; want the revoked writer's commits past its cut", voided, err)
			}
		})
	}
}

// TestRebuildFailureBetweenPieces: a rebuild that fails after a piece of
// its view was committed stops the store's writes (the view in the
// database is half rebuilt); readers keep the view before it; opened
// again, the store rebuilds the view on its next write.
func TestRebuildFailureBetweenPieces(t *testing.T) {
	ctx := context.Background()
	p := newPiecesSpace(t)
	fs := vfs.NewMem()
	st, err := store.Open("db", store.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	store.SetFullRedecide(st, true)
	store.SetPieceBytes(st, 4<<10)
	if err := st.CreateSpace(ctx, "s", p.genesis); err != nil {
		t.Fatal(err)
	}
	p.apply(t, st, p.puts...)
	before, err := st.View(ctx, p.sp)
	if err != nil {
		t.Fatal(err)
	}
	pieces := 0
	store.SetHook(st, func(point string, _ *commit.Commit) error {
		if point == "piece" {
			if pieces++; pieces == 2 {
				return errInjected
			}
		}
		return nil
	})
	res := p.apply(t, st, p.revoke) // durable: Applied all the same
	if res.Redecided {
		t.Error("the result says the space was decided again")
	}
	if v, err := st.View(ctx, p.sp); err != nil || v.Hash != before.Hash {
		t.Errorf("a reader sees %s (%v); want the view before the rebuild, %s", v.Hash, err, before.Hash)
	}
	if _, err := st.Apply(ctx, p.sp, []*commit.Commit{p.after}); !errors.Is(err, errInjected) {
		t.Errorf("a write after the failure: %v; want the rebuild's error", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := store.Open("db", store.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	p.apply(t, again, p.after)
	ref := p.open(t, vfs.NewMem(), 0)
	p.apply(t, ref, p.revoke)
	p.apply(t, ref, p.after)
	sameSpace(t, again, ref, p.sp)
}
