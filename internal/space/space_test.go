package space_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

var tamperSeed = flag.Uint64("tamper.seed", 0, "seed of TestVerifyLogDetectsTampering's positions (0: random)")

// tagCommit is the first byte of a commit row's key in the store's layout
// (internal/store/layout.go); its value is the commit ID ‖ the commit.
const tagCommit = 0x10

// fixture is a space held in an on-disk store, written by one device.
type fixture struct {
	dir string
	sk  keys.SpaceKey
	dev keys.DeviceKey
	st  *store.Store
	sp  *space.Space
}

// newFixture creates a store in a temporary directory holding a new space
// whose genesis grants admin to a new device key, and opens the space.
func newFixture(t testing.TB, o store.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir()}
	var err error
	if f.sk, err = keys.NewSpaceKey(); err != nil {
		t.Fatal(err)
	}
	if f.dev, err = keys.NewDeviceKey(); err != nil {
		t.Fatal(err)
	}
	clock := commit.NewClock()
	genesis, err := commit.Build(commit.Header{
		Space: f.sk.Space(), Author: f.sk.Author(), Seq: 1, Time: clock.Now(),
	}, []commit.Op{commit.GrantOp(commit.Grant{Subject: f.dev.Author(), Role: commit.RoleAdmin})}, f.sk)
	if err != nil {
		t.Fatal(err)
	}
	f.open(t, o)
	if err := f.st.CreateSpace(ctx, "test", genesis); err != nil {
		t.Fatal(err)
	}
	if f.sp, err = space.Open(ctx, f.st, f.sk.Space(), f.dev, clock); err != nil {
		t.Fatal(err)
	}
	return f
}

// dev returns a new device key.
func dev(t testing.TB) keys.DeviceKey {
	t.Helper()
	k, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// as opens f's space on f's store as device dev.
func (f *fixture) as(t testing.TB, dev keys.DeviceKey) *space.Space {
	t.Helper()
	sp, err := space.Open(context.Background(), f.st, f.sk.Space(), dev, commit.NewClock())
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// writer grants write to a new device and opens f's space as it.
func (f *fixture) writer(t testing.TB) (keys.DeviceKey, *space.Space) {
	t.Helper()
	w := dev(t)
	if _, err := f.sp.Commit(context.Background(), []commit.Op{commit.GrantOp(commit.Grant{Subject: w.Author(), Role: commit.RoleWrite})}); err != nil {
		t.Fatal(err)
	}
	return w, f.as(t, w)
}

// open opens the store in f.dir; it is closed when the test ends.
func (f *fixture) open(t testing.TB, o store.Options) {
	t.Helper()
	st, err := store.Open(f.dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
}

// verify runs VerifyLog on a freshly opened store and closes it.
func (f *fixture) verify(t *testing.T) (space.Report, error) {
	t.Helper()
	st, err := store.Open(f.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	return space.VerifyLog(context.Background(), st, f.sk.Space())
}

// quietLogger keeps Pebble's informational output out of the test log.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// withPebble opens the closed store's Pebble database directly, runs fn on
// it and closes it.
func withPebble(t *testing.T, dir string, fn func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// row is one stored commit row.
type row struct {
	key, value []byte
	author     keys.AuthorID
	seq        uint64
}

// commitRows returns every commit row of the database.
func commitRows(t *testing.T, db *pebble.DB) []row {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagCommit}, UpperBound: []byte{tagCommit + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var rows []row
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 1+2*keys.Size+8 {
			t.Fatalf("commit row key of %d bytes", len(k))
		}
		r := row{key: bytes.Clone(k), value: bytes.Clone(it.Value())}
		copy(r.author[:], k[1+keys.Size:])
		for _, b := range k[1+2*keys.Size:] {
			r.seq = r.seq<<8 | uint64(b)
		}
		rows = append(rows, r)
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestVerifyLogDetectsTampering flips one bit at random positions of the
// stored commit rows, in the encoded commit (a row written before the body
// log) or the place of its record in the body log, or in the ID stored
// with it:
// VerifyLog names the tampered commit, and verifies again once the bit is
// restored. Replay a failure with -tamper.seed=N.
func TestVerifyLogDetectsTampering(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	for i := range 20 {
		ops := []commit.Op{commit.Put(fmt.Appendf(nil, "k/%02d", i), fmt.Appendf(nil, "value %d", i))}
		switch i % 4 {
		case 1:
			ops = append(ops, commit.Put(fmt.Appendf(nil, "k/%02d/b", i), bytes.Repeat([]byte{byte(i)}, 100)))
		case 2:
			ops = append(ops, commit.Del(fmt.Appendf(nil, "k/%02d", i-1)), commit.Put(fmt.Appendf(nil, "k/%02d/c", i), nil))
		}
		if _, err := f.sp.Commit(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
	r, err := space.VerifyLog(ctx, f.st, f.sk.Space())
	if err != nil {
		t.Fatalf("intact log: %v", err)
	}
	if r.Commits != 21 || r.Authors != 2 {
		t.Fatalf("intact log: %+v, want 21 commits by 2 authors", r)
	}
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}

	var rows []row
	withPebble(t, f.dir, func(db *pebble.DB) { rows = commitRows(t, db) })
	if len(rows) != 21 {
		t.Fatalf("%d commit rows, want 21", len(rows))
	}

	seed := testkit.Seed(t, *tamperSeed, "tamper.seed")
	rnd := rand.New(rand.NewPCG(seed, 0))
	for trial := range 40 {
		rw := rows[rnd.IntN(len(rows))]
		pos := keys.Size + rnd.IntN(len(rw.value)-keys.Size) // in the encoded commit
		if trial%5 == 0 {
			pos = rnd.IntN(keys.Size) // in the stored ID
		}
		bit := byte(1) << rnd.IntN(8)
		where := fmt.Sprintf("trial %d: %s seq %d, byte %d of %d, bit %#02x", trial, rw.author, rw.seq, pos, len(rw.value), bit)

		bad := bytes.Clone(rw.value)
		bad[pos] ^= bit
		withPebble(t, f.dir, func(db *pebble.DB) {
			if err := db.Set(rw.key, bad, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})
		_, err := f.verify(t)
		if !errors.Is(err, space.ErrInvalidLog) {
			t.Fatalf("%s: VerifyLog = %v, want an error wrapping ErrInvalidLog", where, err)
		}
		if name := fmt.Sprintf("%s seq %d", rw.author, rw.seq); !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: error %q does not name %q", where, err, name)
		}

		withPebble(t, f.dir, func(db *pebble.DB) {
			if err := db.Set(rw.key, rw.value, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})
		if r, err := f.verify(t); err != nil || r.Commits != 21 {
			t.Fatalf("%s: restored log: %+v, %v", where, r, err)
		}
	}
}

// TestConcurrentCommitsMerged: concurrent single-op writers are all
// committed, their log verifies (contiguous seqs, intact chain), and under
// load some of their writes share commits.
func TestConcurrentCommitsMerged(t *testing.T) {
	const writers, writes = 32, 50
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				key := fmt.Appendf(nil, "w%02d/%02d", w, i)
				c, err := f.sp.Commit(ctx, []commit.Op{commit.Put(key, key)})
				if err != nil {
					errs <- fmt.Errorf("writer %d, write %d: %w", w, i, err)
					return
				}
				if !containsKey(c, key) {
					errs <- fmt.Errorf("writer %d, write %d: commit %s does not hold key %s", w, i, c, key)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	for w := range writers {
		for i := range writes {
			key := fmt.Appendf(nil, "w%02d/%02d", w, i)
			e, err := f.sp.Get(ctx, key)
			if err != nil || !bytes.Equal(e.Value, key) || e.Author != f.dev.Author() {
				t.Errorf("Get(%s) = %q by %s, %v; want its own key by %s", key, e.Value, e.Author, err, f.dev.Author())
			}
		}
	}
	vs, err := f.sp.View(ctx)
	if err != nil || vs.Visible != writers*writes {
		t.Errorf("View: %d visible keys, %v; want %d", vs.Visible, err, writers*writes)
	}
	r, err := space.VerifyLog(ctx, f.st, f.sk.Space())
	if err != nil {
		t.Fatalf("VerifyLog: %v", err)
	}
	if r.Ops != 1+writers*writes {
		t.Errorf("log holds %d ops, want %d (the grant and every write)", r.Ops, 1+writers*writes)
	}
	if r.Commits < 2 || r.Commits > 1+writers*writes {
		t.Errorf("log holds %d commits for %d writes", r.Commits, writers*writes)
	}
	t.Logf("%d writes in %d commits", writers*writes, r.Commits-1)
}

func containsKey(c *commit.Commit, key []byte) bool {
	for _, o := range c.Ops {
		if bytes.Equal(o.Key, key) {
			return true
		}
	}
	return false
}
