package store_test

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// bodyStore is a store holding one space whose genesis makes the space
// key an admin and the writers writers, with a body log of small
// segments.
type bodyStore struct {
	st      *store.Store
	sp      keys.SpaceID
	genesis *commit.Commit
	writers []*author
}

func newBodyStore(t *testing.T, fs vfs.FS, dir string, seed byte, writers int, o store.Options) *bodyStore {
	t.Helper()
	o.FS = fs
	st, err := store.Open(dir, store.WithBodySegments(o, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bodyStore{st: st}
	sk := keys.SpaceKeyFromSeed([32]byte{seed})
	b.sp = sk.Space()
	dev := func(i int) keys.DeviceKey { return keys.DeviceKeyFromSeed([32]byte{seed, byte(i + 1)}) }
	ops := []commit.Op{commit.GrantOp(commit.Grant{Subject: sk.Author(), Role: commit.RoleAdmin})}
	for i := range writers {
		ops = append(ops, commit.GrantOp(commit.Grant{Subject: dev(i).Author(), Role: commit.RoleWrite}))
	}
	b.genesis = newAuthor(t, b.sp, sk).next(ops...)
	if err := st.CreateSpace(context.Background(), fmt.Sprint("s", seed), b.genesis); err != nil {
		t.Fatal(err)
	}
	for i := range writers {
		w := newAuthor(t, b.sp, dev(i))
		w.deps = []keys.CommitID{b.genesis.ID}
		b.writers = append(b.writers, w)
	}
	return b
}

// puts returns n commits of writer w, each a put of a random value of 100
// to 1,500 bytes.
func (b *bodyStore) puts(r *rand.Rand, w, n int) []*commit.Commit {
	var cs []*commit.Commit
	for range n {
		v := make([]byte, 100+r.IntN(1400))
		for i := range v {
			v[i] = byte(r.Uint32())
		}
		cs = append(cs, b.writers[w].next(commit.Put(fmt.Appendf(nil, "k%d", r.IntN(50)), v)))
	}
	return cs
}

func (b *bodyStore) apply(t *testing.T, cs ...*commit.Commit) {
	t.Helper()
	res, err := b.st.Apply(context.Background(), b.sp, cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes {
		if o.Status != store.Applied {
			t.Fatalf("commit %d: %s %v", i, o.Status, o.Err)
		}
	}
}

// checkCommits checks that st holds each of cs, with its bytes, and that
// every commit row of sp reads (none names a missing record).
func checkCommits(t *testing.T, st *store.Store, sp keys.SpaceID, cs []*commit.Commit) {
	t.Helper()
	ctx := context.Background()
	for _, c := range cs {
		b, err := st.CommitByID(ctx, sp, c.ID)
		if err != nil {
			t.Fatalf("commit %s: %v", c, err)
		}
		if !bytes.Equal(b, c.Bytes()) {
			t.Fatalf("commit %s: other bytes read back", c)
		}
	}
	for sc, err := range st.AllCommits(ctx, sp) {
		if err != nil {
			t.Fatalf("reading every commit: %v", err)
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil || c.ID != sc.ID || c.Author != sc.Author || c.Seq != sc.Seq {
			t.Fatalf("commit %s/%d reads back as another (%v)", sc.Author.Short(), sc.Seq, err)
		}
	}
}

// TestBodyLogCrash: the power fails, on Pebble's crashable memory file
// system, at the start of a group, amid one (after some of its commits'
// records were appended), or between the body log's sync and Pebble's
// commit; the log's segments are small, so groups roll them. Reopened,
// the store holds every commit acknowledged before, with its bytes, and
// every commit row reads (no row names a record the crash took); the
// group cut short is not held, and writing goes on. Each run has its
// seed, in the subtest's name.
func TestBodyLogCrash(t *testing.T) {
	runs := 24
	if testing.Short() {
		runs = 6
	}
	for i := range runs {
		seed := uint64(i + 1)
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { bodyCrash(t, seed) })
	}
}

func bodyCrash(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 16))
	fs := vfs.NewCrashableMem()
	b := newBodyStore(t, fs, "db", 7, 2, store.Options{})
	const groups = 6
	crashGroup := 1 + r.IntN(groups-1)
	points := []string{"group", "stored", "bodies synced"}
	point := points[r.IntN(len(points))]
	unsynced := r.IntN(101)
	var group, stored int // of the group being applied; the hook runs within Apply
	var crashed *vfs.MemFS
	store.SetHook(b.st, func(p string, c *commit.Commit) error {
		if crashed != nil || group != crashGroup || p != point {
			return nil
		}
		if p == "stored" {
			if stored++; stored < 3 {
				return nil
			}
		}
		crashed = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rand.New(rand.NewPCG(seed, 17))})
		return nil
	})
	var acked []*commit.Commit
	for g := range groups {
		group = g
		cs := b.puts(r, 0, 5+r.IntN(20))
		b.apply(t, cs...)
		if crashed == nil {
			acked = append(acked, cs...)
		}
	}
	if crashed == nil {
		t.Fatalf("no crash at %q of group %d", point, crashGroup)
	}
	if logged, _, err := store.CommitRowForms(b.st); err != nil || logged == 0 {
		t.Fatalf("%d commit rows naming records (%v): the log is not used", logged, err)
	}
	b.st.Close()

	st, err := store.Open("db", store.WithBodySegments(store.Options{FS: crashed}, 16<<10))
	if err != nil {
		t.Fatalf("crash at %q of group %d (%d%% unsynced kept): reopen: %v", point, crashGroup, unsynced, err)
	}
	defer st.Close()
	t.Logf("crash at %q of group %d, %d%% of unsynced writes kept: %d commits acknowledged before", point, crashGroup, unsynced, len(acked))
	checkCommits(t, st, b.sp, append([]*commit.Commit{b.genesis}, acked...))
	heads, err := st.Heads(context.Background(), b.sp)
	if err != nil {
		t.Fatal(err)
	}
	w := b.writers[0].key.Author()
	for _, h := range heads {
		if h.Author == w && h.Seq != acked[len(acked)-1].Seq {
			t.Fatalf("head of the writer at %d after the crash, %d acknowledged", h.Seq, acked[len(acked)-1].Seq)
		}
	}
	b.st = st
	more := b.puts(r, 1, 30)
	b.apply(t, more...)
	checkCommits(t, st, b.sp, append(acked, more...))
}

// TestOldCommitRows: commit rows written before the body log (ID, then the
// commit's bytes) read as before: by ID, by author, in a rebuild's walk
// (a revocation decides the space again), as the target of an erase
// (whose rewrite names a record), across a reopen, beside new rows.
func TestOldCommitRows(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	r := rand.New(rand.NewPCG(3, 4))
	b := newBodyStore(t, fs, "db", 9, 2, store.Options{})
	old := append([]*commit.Commit{b.genesis}, b.puts(r, 0, 20)...)
	b.apply(t, old[1:]...)
	secret := b.writers[1].next(commit.Put([]byte("secret"), []byte("erase me")))
	b.apply(t, secret)
	old = append(old, secret)
	n, err := store.ToOldRows(b.st)
	if err != nil {
		t.Fatal(err)
	}
	if logged, o, err := store.CommitRowForms(b.st); err != nil || logged != 0 || o != n || n != len(old) {
		t.Fatalf("rows: %d naming records, %d old, %d rewritten, %v; want %d old", logged, o, n, err, len(old))
	}
	checkCommits(t, b.st, b.sp, old)
	if e, err := b.st.Get(ctx, b.sp, []byte("secret")); err != nil || string(e.Value) != "erase me" {
		t.Fatalf("Get: %q, %v", e.Value, err)
	}

	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: secret.Author, Seq: secret.Seq, ID: secret.ID, Op: 0, Key: []byte("secret")}}})
	if err != nil {
		t.Fatal(err)
	}
	erase := b.writers[1].next(er)
	b.apply(t, erase)
	newer := append(b.puts(r, 0, 10), erase)
	b.apply(t, newer[:10]...)
	if e, err := b.st.Get(ctx, b.sp, []byte("secret")); err != nil || !e.Erased || len(e.Value) != 0 {
		t.Fatalf("Get of the erased key: %+v, %v", e, err)
	}
	got, err := b.st.CommitByID(ctx, b.sp, secret.ID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := commit.Decode(got)
	if err != nil || !c.Ops[0].Erased {
		t.Fatalf("the erased commit reads back unerased (%v)", err)
	}
	logged, o, err := store.CommitRowForms(b.st)
	if err != nil || logged != len(newer)+1 || o != len(old)-1 {
		t.Fatalf("rows: %d naming records, %d old, %v; want %d and %d", logged, o, err, len(newer)+1, len(old)-1)
	}
	b.st.Close()
	st, err := store.Open("db", store.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b.st = st
	// A revocation: the space is decided again, its commits walked.
	sk := keys.SpaceKeyFromSeed([32]byte{9})
	admin := newAuthor(t, b.sp, sk)
	admin.seq, admin.prev = b.genesis.Seq, b.genesis.ID
	admin.deps = []keys.CommitID{newer[len(newer)-2].ID}
	rev := admin.next(commit.RevokeOp(commit.Revoke{Author: b.writers[0].key.Author(), LastSeq: 25}))
	res, err := st.Apply(ctx, b.sp, []*commit.Commit{rev})
	if err != nil || res.Outcomes[0].Status != store.Applied || !res.Redecided {
		t.Fatalf("revocation: %+v, %v", res, err)
	}
	checkCommits(t, st, b.sp, append(old[:len(old)-1], newer...))
}

// segmentFiles returns the body log's segment files under dir, and their
// bytes.
func segmentFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	names, err := filepath.Glob(filepath.Join(dir, "bodies", "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(n)] = b
	}
	return out
}

// filesHolding returns the files under dir whose bytes contain b.
func filesHolding(t *testing.T, dir string, b []byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(f, b) {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEraseReclaimed: an erased payload leaves the body log: at once when
// its record is in a segment before the tail; when it is in the tail,
// when the log is reclaimed (ReclaimBodies) or once it has been there a
// while (a minute; here 100 ms); after Compact and Close no file of the
// store's directory holds its bytes. Before the reclaim it is there (the
// test sees what it looks for).
func TestEraseReclaimed(t *testing.T) {
	for _, c := range []struct {
		name    string
		inTail  bool
		reclaim bool // call ReclaimBodies
	}{
		{"before the tail", false, false},
		{"tail, reclaimed", true, true},
		{"tail, after a while", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			inTail := c.inTail
			ctx := context.Background()
			dir := t.TempDir()
			r := rand.New(rand.NewPCG(5, 6))
			b := newBodyStore(t, vfs.Default, dir, 11, 2, store.WithTailAfter(store.Options{}, 100*time.Millisecond))
			b.apply(t, b.puts(r, 0, 20)...)
			marker := fmt.Appendf(nil, "payload-to-erase-%x", r.Uint64())
			secret := b.writers[1].next(commit.Put([]byte("secret"), marker))
			b.apply(t, secret)
			if !inTail {
				b.apply(t, b.puts(r, 0, 40)...) // rolls the tail past it
			}
			if len(filesHolding(t, filepath.Join(dir, "bodies"), marker)) == 0 {
				t.Fatal("the payload is in no segment before its erase")
			}
			er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: secret.Author, Seq: secret.Seq, ID: secret.ID, Op: 0, Key: []byte("secret")}}})
			if err != nil {
				t.Fatal(err)
			}
			b.apply(t, b.writers[1].next(er))
			if c.reclaim {
				if err := b.st.ReclaimBodies(ctx); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Second) // the applier reclaims after it answered
			for len(filesHolding(t, filepath.Join(dir, "bodies"), marker)) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the erased payload is still in %v", filesHolding(t, dir, marker))
				}
				time.Sleep(10 * time.Millisecond)
			}
			checkCommits(t, b.st, b.sp, []*commit.Commit{b.genesis})
			for sc, err := range b.st.AllCommits(ctx, b.sp) {
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(sc.Bytes, marker) {
					t.Fatalf("commit %d reads back with the erased payload", sc.Seq)
				}
			}
			if err := b.st.Compact(ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := b.st.Close(); err != nil {
				t.Fatal(err)
			}
			if fs := filesHolding(t, dir, marker); len(fs) > 0 {
				t.Fatalf("after Compact and Close the erased payload is in %v", fs)
			}
		})
	}
}

// TestForgetReclaimed: after a space is forgotten and the log reclaimed,
// no segment file holds a record of it (their keys name the space), and
// the other space's commits, stored among them, read back.
func TestForgetReclaimed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	gone := newBodyStore(t, vfs.Default, dir, 13, 1, store.Options{})
	kept := &bodyStore{st: gone.st}
	keptGenesis := newAuthor(t, keys.SpaceKeyFromSeed([32]byte{14}).Space(), keys.SpaceKeyFromSeed([32]byte{14}))
	dev := keys.DeviceKeyFromSeed([32]byte{14, 1})
	kept.sp = keys.SpaceKeyFromSeed([32]byte{14}).Space()
	kept.genesis = keptGenesis.next(commit.GrantOp(commit.Grant{Subject: keptGenesis.key.Author(), Role: commit.RoleAdmin}), commit.GrantOp(commit.Grant{Subject: dev.Author(), Role: commit.RoleWrite}))
	if err := gone.st.CreateSpace(ctx, "kept", kept.genesis); err != nil {
		t.Fatal(err)
	}
	w := newAuthor(t, kept.sp, dev)
	w.deps = []keys.CommitID{kept.genesis.ID}
	kept.writers = []*author{w}
	keptCs := []*commit.Commit{kept.genesis}
	for range 6 {
		gone.apply(t, gone.puts(r, 0, 10)...)
		cs := kept.puts(r, 0, 10)
		kept.apply(t, cs...)
		keptCs = append(keptCs, cs...)
	}
	if len(store.BodySegments(gone.st)) < 4 {
		t.Fatalf("%d segments: the test wants the spaces' records in several", len(store.BodySegments(gone.st)))
	}
	holding := func() []string {
		var out []string
		for name, b := range segmentFiles(t, dir) {
			if bytes.Contains(b, gone.sp[:]) {
				out = append(out, name)
			}
		}
		return out
	}
	if len(holding()) == 0 {
		t.Fatal("no segment holds the space's records before it is forgotten")
	}
	if err := gone.st.Forget(ctx, gone.sp); err != nil {
		t.Fatal(err)
	}
	if err := gone.st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	if h := holding(); len(h) > 0 {
		t.Fatalf("after forgetting the space and reclaiming, segments %v hold its records", h)
	}
	checkCommits(t, gone.st, kept.sp, keptCs)
}

// TestReclaimWaitsForReaders: a reader amid Commits, on the read state
// before a reclaim renamed the rows, reads the rest of the commits from
// the segments the reclaim copied; they are removed once it stops.
func TestReclaimWaitsForReaders(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	b := newBodyStore(t, vfs.NewMem(), "db", 15, 1, store.Options{})
	cs := append([]*commit.Commit{}, b.puts(r, 0, 60)...)
	b.apply(t, cs...)
	secret := cs[5]
	er, err := commit.EraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: secret.Author, Seq: secret.Seq, ID: secret.ID, Op: 0, Key: secret.Ops[0].Key}}})
	if err != nil {
		t.Fatal(err)
	}
	next, stop := iter.Pull2(b.st.Commits(ctx, b.sp, secret.Author, 1))
	defer stop()
	first, err, ok := next()
	if !ok || err != nil || first.Seq != 1 {
		t.Fatalf("first commit: %v %v", ok, err)
	}
	before := store.BodySegments(b.st)
	b.apply(t, b.writers[0].next(er))
	if err := b.st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	if after := store.BodySegments(b.st); after[0].Seg != before[0].Seg {
		t.Fatalf("segment %d removed while a reader reads a state naming it", before[0].Seg)
	}
	n := 1
	for {
		sc, err, ok := next()
		if !ok {
			break
		}
		if err != nil {
			t.Fatalf("the reader's commit %d: %v", n+1, err)
		}
		if want := cs[n]; sc.ID != want.ID || !bytes.Equal(sc.Bytes, want.Bytes()) {
			t.Fatalf("the reader's commit %d reads back as another", sc.Seq)
		}
		if n++; n == len(cs) {
			break
		}
	}
	stop()
	deadline := time.Now().Add(10 * time.Second)
	for store.BodySegments(b.st)[0].Seg == before[0].Seg {
		if time.Now().After(deadline) {
			t.Fatalf("segment %d still there once the reader stopped: %v", before[0].Seg, store.BodySegments(b.st))
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkCommits(t, b.st, b.sp, cs[6:])
}

// TestRetentionReclaimed: a superseded write whose payload retention
// erases (DropSuperseded) leaves the body log once it is reclaimed; the
// write that superseded it stays readable.
func TestRetentionReclaimed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(11, 12))
	b := newBodyStore(t, vfs.Default, dir, 17, 1, store.Options{})
	marker := fmt.Appendf(nil, "superseded-payload-%x", r.Uint64())
	b.apply(t, b.writers[0].next(commit.Put([]byte("k"), marker)))
	b.apply(t, b.puts(r, 0, 30)...) // rolls the tail past it
	b.apply(t, b.writers[0].next(commit.Put([]byte("k"), []byte("now"))))
	if len(filesHolding(t, filepath.Join(dir, "bodies"), marker)) == 0 {
		t.Fatal("the payload is in no segment before retention")
	}
	res, err := b.st.DropSuperseded(ctx, b.sp, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Erased) == 0 {
		t.Fatal("retention erased nothing")
	}
	if err := b.st.ReclaimBodies(ctx); err != nil {
		t.Fatal(err)
	}
	if fs := filesHolding(t, filepath.Join(dir, "bodies"), marker); len(fs) > 0 {
		t.Fatalf("after retention and a reclaim the superseded payload is in %v", fs)
	}
	if e, err := b.st.Get(ctx, b.sp, []byte("k")); err != nil || string(e.Value) != "now" {
		t.Fatalf("Get: %q, %v", e.Value, err)
	}
	checkCommits(t, b.st, b.sp, []*commit.Commit{b.genesis})
}
