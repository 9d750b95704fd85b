package blob_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
)

// memSource serves a blob from another Store, in memory.
type memSource struct {
	name string
	st   *blob.Store
	m    blob.Manifest

	delay     time.Duration // slept before each chunk: a rate limit
	corrupt   bool          // flip a byte of every chunk
	badMan    bool          // send a manifest that does not match the ID
	noBlob    bool          // say it has nothing
	failAfter int           // if > 0, Get fails after this many chunks served
	failFirst int64         // the first failFirst Gets fail, as a timed-out request does
	lacks     int           // if > 0, it answers chunk lacks-1 with ErrNotFound
	haveErr   error         // Have fails with it
	late      bool          // answer only once the request is canceled (the chunk came from elsewhere)
	gotCalls  atomic.Int64

	served    atomic.Int64
	mu        sync.Mutex
	requested []int
}

func newSource(t testing.TB, name string, st *blob.Store, id blob.BlobID) *memSource {
	t.Helper()
	m, err := st.Manifest(id)
	if err != nil {
		t.Fatal(err)
	}
	return &memSource{name: name, st: st, m: m}
}

func (s *memSource) Peer() string { return s.name }

func (s *memSource) Have(ctx context.Context, id blob.BlobID) ([]byte, blob.Bitmap, error) {
	if s.haveErr != nil {
		return nil, nil, s.haveErr
	}
	if s.noBlob || s.m.ID() != id {
		return nil, nil, nil
	}
	man := s.m.Encode()
	if s.badMan {
		man[len(man)-1] ^= 1
	}
	return man, s.st.Bitmap(s.m), nil
}

func (s *memSource) Get(ctx context.Context, id blob.BlobID, i int) ([]byte, error) {
	s.mu.Lock()
	s.requested = append(s.requested, i)
	s.mu.Unlock()
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if s.late {
		<-ctx.Done()
	}
	if s.gotCalls.Add(1) <= s.failFirst {
		return nil, errors.New("node: blob answer from x: nothing came for 1m0s (the peer stopped answering)")
	}
	if s.lacks > 0 && i == s.lacks-1 {
		return nil, fmt.Errorf("does not hold chunk %d: %w", i, blob.ErrNotFound)
	}
	if s.failAfter > 0 && s.served.Add(1) > int64(s.failAfter) {
		return nil, errors.New("connection reset")
	}
	data, err := s.st.Get(s.m.Chunks[i])
	if err != nil {
		return nil, err
	}
	if s.corrupt {
		data[len(data)/2] ^= 0xff
	}
	return data, nil
}

func (s *memSource) gets() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requested)
}

// seed stores data in a fresh store and returns it with the blob ID.
func seed(t testing.TB, data []byte) (*blob.Store, blob.BlobID) {
	t.Helper()
	st := openStore(t, t.TempDir())
	id, _ := addBytes(t, st, data)
	return st, id
}

func fetch(t *testing.T, st *blob.Store, id blob.BlobID, opts blob.FetchOptions, srcs ...*memSource) (blob.Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ss []blob.Source
	for _, s := range srcs {
		ss = append(ss, s)
	}
	return blob.Fetch(ctx, st, id, ss, opts)
}

// fetchWhole fetches blob id from c into a fresh store and checks that
// the store holds it whole, reading back as data.
func fetchWhole(t *testing.T, ctx context.Context, c blob.Source, id blob.BlobID, data []byte) *blob.Store {
	t.Helper()
	dst := openStore(t, t.TempDir())
	if _, err := blob.Fetch(ctx, dst, id, []blob.Source{c}, blob.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	return dst
}

// checkStored fails unless st holds exactly the chunks of m (in files that
// verify) and reads back as data.
func checkStored(t *testing.T, st *blob.Store, id blob.BlobID, data []byte) {
	t.Helper()
	m, err := st.Manifest(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, st, id); string(got) != string(data) {
		t.Fatal("the fetched blob differs from the original")
	}
	want := map[blob.ChunkID]bool{}
	for _, c := range m.Chunks {
		want[c] = true
	}
	checkChunkFiles(t, st, want)
}

// checkChunkFiles fails unless every chunk file in st hashes to its name and
// is one of allowed.
func checkChunkFiles(t *testing.T, st *blob.Store, allowed map[blob.ChunkID]bool) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(st.Dir(), "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		id := blob.ChunkIDOf(b)
		if p != chunkPath(st.Dir(), id) {
			return fmt.Errorf("%s holds bytes that hash to %s", p, id)
		}
		if !allowed[id] {
			return fmt.Errorf("unexpected chunk %s", id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(allowed) {
		t.Fatalf("%d chunk files, want %d", n, len(allowed))
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func TestFetchMultiSource(t *testing.T) {
	data := randBytes(40, 20*MiB+12345)
	src, id := seed(t, data)
	dst := openStore(t, t.TempDir())

	var mu sync.Mutex
	var reports []blob.Progress
	opts := blob.FetchOptions{Progress: func(p blob.Progress) {
		mu.Lock()
		reports = append(reports, p)
		mu.Unlock()
	}}
	stats, err := fetch(t, dst, id, opts, newSource(t, "a", src, id), newSource(t, "b", src, id), newSource(t, "c", src, id))
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	if got := sum(stats.Bytes); got != int64(len(data)) || stats.Chunks != 21 {
		t.Fatalf("stats: %d bytes in %d chunks, want %d in 21", got, stats.Chunks, len(data))
	}
	if len(stats.Corrupt) != 0 || len(stats.Failed) != 0 {
		t.Fatalf("stats: corrupt %v, failed %v", stats.Corrupt, stats.Failed)
	}
	t.Logf("bytes per peer %v, %d requests, %d re-requests, %v", stats.Bytes, stats.Requests, stats.Rerequests, stats.Duration)

	// One report before the first chunk, then at most one per chunk: a
	// report overtaken by a later chunk's is skipped, never sent out of order.
	if len(reports) < 2 || len(reports) > 22 {
		t.Fatalf("%d progress reports, want 2 to 22", len(reports))
	}
	if reports[0].Done != 0 {
		t.Fatalf("first progress report %+v, want nothing done", reports[0])
	}
	for i, p := range reports {
		if p.Total != int64(len(data)) || i > 0 && p.Done <= reports[i-1].Done || p.Done != sum(p.Peers) {
			t.Fatalf("progress report %d: %+v", i, p)
		}
	}
	if last := reports[len(reports)-1]; last.Done != last.Total || !maps.Equal(last.Peers, stats.Bytes) {
		t.Fatalf("last progress report %+v, stats %v", last, stats.Bytes)
	}

	// Everything is held now: a second Fetch asks for nothing.
	s := newSource(t, "a", src, id)
	if stats, err := fetch(t, dst, id, blob.FetchOptions{}, s); err != nil || stats.Requests != 0 || len(s.gets()) != 0 {
		t.Fatalf("fetch of a held blob: %v, %d requests", err, stats.Requests)
	}
}

func TestFetchEmptyBlob(t *testing.T) {
	src, id := seed(t, nil)
	dst := openStore(t, t.TempDir())
	if _, err := fetch(t, dst, id, blob.FetchOptions{}, newSource(t, "a", src, id)); err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, nil)
}

// TestFetchSizeMismatch: a fetch told the size the reference says stops
// at the manifest when the blob is larger, having fetched no chunk.
func TestFetchSizeMismatch(t *testing.T) {
	data := randBytes(41, 3*MiB)
	src, id := seed(t, data)
	dst := openStore(t, t.TempDir())
	stats, err := fetch(t, dst, id, blob.FetchOptions{Size: 10}, newSource(t, "a", src, id))
	if !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("fetch of a 3 MiB blob said to be 10 bytes: %v", err)
	}
	if stats.Chunks != 0 || sum(stats.Bytes) != 0 {
		t.Fatalf("fetched %d chunks (%d bytes) before noticing", stats.Chunks, sum(stats.Bytes))
	}
	if _, err := fetch(t, dst, id, blob.FetchOptions{Size: int64(len(data))}, newSource(t, "a", src, id)); err != nil {
		t.Fatalf("fetch with the right size: %v", err)
	}
	checkStored(t, dst, id, data)
}

func TestFetchThrottledShare(t *testing.T) {
	data := randBytes(41, 24*MiB)
	src, id := seed(t, data)
	dst := openStore(t, t.TempDir())
	var srcs []*memSource
	for _, name := range []string{"a", "b", "c"} {
		s := newSource(t, name, src, id)
		s.delay = 20 * time.Millisecond
		srcs = append(srcs, s)
	}
	stats, err := fetch(t, dst, id, blob.FetchOptions{}, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	t.Logf("bytes per peer %v, %d re-requests, %v", stats.Bytes, stats.Rerequests, stats.Duration)
	for _, s := range srcs {
		// A third each if equal; ask for at least a sixth.
		if got := stats.Bytes[s.name]; got < int64(len(data))/6 {
			t.Errorf("%s served %d of %d bytes", s.name, got, len(data))
		}
	}
}

func TestFetchSlowSourceEndgame(t *testing.T) {
	data := randBytes(42, 16*MiB)
	src, id := seed(t, data)
	dst := openStore(t, t.TempDir())
	slow := newSource(t, "slow", src, id)
	slow.delay = time.Hour // never answers before it is canceled
	fast1, fast2 := newSource(t, "fast1", src, id), newSource(t, "fast2", src, id)
	stats, err := fetch(t, dst, id, blob.FetchOptions{}, slow, fast1, fast2)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	t.Logf("bytes per peer %v, %d requests, %d re-requests", stats.Bytes, stats.Requests, stats.Rerequests)
	if stats.Rerequests == 0 {
		t.Fatal("no re-requests, yet the slow source never answered")
	}
	if stats.Bytes["slow"] != 0 || len(slow.gets()) == 0 {
		t.Fatalf("the slow source served %d bytes after %d requests", stats.Bytes["slow"], len(slow.gets()))
	}
}

// TestFetchCorruptLateAnswer: bytes that do not verify drop their source
// even when they arrive after the chunk came from elsewhere. Before, a
// canceled request's answer was not checked, so a corrupt source that
// always answered late was asked again and again (and under load
// TestFetchCorruptSource saw a corrupt source asked 5 times).
func TestFetchCorruptLateAnswer(t *testing.T) {
	data := randBytes(44, 8*MiB)
	src, id := seed(t, data)
	dst := openStore(t, t.TempDir())
	bad := newSource(t, "bad", src, id)
	bad.corrupt, bad.late = true, true
	good := newSource(t, "good", src, id)
	good.delay = 5 * time.Millisecond
	stats, err := fetch(t, dst, id, blob.FetchOptions{}, bad, good)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	if stats.Corrupt["bad"] != 1 || stats.Bytes["bad"] != 0 {
		t.Fatalf("the late corrupt source: counted %d, served %d bytes", stats.Corrupt["bad"], stats.Bytes["bad"])
	}
	if n := len(bad.gets()); n > blob.DefaultPerSource {
		t.Fatalf("the late corrupt source was asked %d times: it should have been dropped at its first answer", n)
	}
}

func TestFetchCorruptSource(t *testing.T) {
	data := randBytes(43, 12*MiB+1)
	src, id := seed(t, data)
	dst := openStore(t, t.TempDir())
	bad := newSource(t, "bad", src, id)
	bad.corrupt = true
	badMan := newSource(t, "badman", src, id)
	badMan.badMan = true
	stats, err := fetch(t, dst, id, blob.FetchOptions{}, badMan, bad, newSource(t, "good1", src, id), newSource(t, "good2", src, id))
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	t.Logf("bytes per peer %v, corrupt %v", stats.Bytes, stats.Corrupt)
	if stats.Corrupt["bad"] != 1 || stats.Bytes["bad"] != 0 {
		t.Fatalf("the corrupt source: counted %d, served %d bytes", stats.Corrupt["bad"], stats.Bytes["bad"])
	}
	if n := len(bad.gets()); n > blob.DefaultPerSource {
		t.Fatalf("the corrupt source was asked %d times after it was dropped", n)
	}
	if stats.Corrupt["badman"] != 1 || len(badMan.gets()) != 0 {
		t.Fatalf("the source with a bad manifest: counted %d, asked for %d chunks", stats.Corrupt["badman"], len(badMan.gets()))
	}

	// With only corrupt sources, nothing is written and the error says so.
	dst = openStore(t, t.TempDir())
	bad = newSource(t, "bad", src, id)
	bad.corrupt = true
	_, err = fetch(t, dst, id, blob.FetchOptions{}, bad)
	if !errors.Is(err, blob.ErrUnavailable) || !strings.Contains(err.Error(), "13 of 13 chunks missing (chunks 0-12)") ||
		!strings.Contains(err.Error(), "bad sent 1 that did not verify") {
		t.Fatalf("fetch from a corrupt source: %v", err)
	}
	t.Log(err)
	checkChunkFiles(t, dst, nil)
}

func TestFetchResume(t *testing.T) {
	data := randBytes(44, 20*MiB)
	src, id := seed(t, data)
	dst := openStore(t, t.TempDir())

	flaky := newSource(t, "flaky", src, id)
	flaky.failAfter = 10
	stats, err := fetch(t, dst, id, blob.FetchOptions{}, flaky)
	if !errors.Is(err, blob.ErrUnavailable) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("fetch from a source that fails: %v", err)
	}
	t.Log(err)
	m, err := dst.Manifest(id)
	if err != nil {
		t.Fatal(err)
	}
	missing := dst.Missing(m)
	if stats.Chunks == 0 || stats.Chunks > 10 || len(missing) != 20-stats.Chunks {
		t.Fatalf("first fetch stored %d chunks, %d missing", stats.Chunks, len(missing))
	}

	a, b := newSource(t, "a", src, id), newSource(t, "b", src, id)
	stats, err = fetch(t, dst, id, blob.FetchOptions{}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	requested := map[int]bool{}
	for _, i := range append(a.gets(), b.gets()...) {
		requested[i] = true
	}
	if got := slices.Sorted(maps.Keys(requested)); !slices.Equal(got, missing) {
		t.Fatalf("second fetch requested chunks %v, want the missing %v", got, missing)
	}
	if stats.Chunks != len(missing) || sum(stats.Bytes) != int64(len(missing))*MiB {
		t.Fatalf("second fetch stored %d chunks, %d bytes; %d were missing", stats.Chunks, sum(stats.Bytes), len(missing))
	}
}

// TestFetchRetries: a source whose requests fail now and then (timed out,
// reset) is asked again rather than dropped at the first failure; one that
// says it lacks a chunk is not asked for it again but still serves the
// rest, and the chunk comes from another source.
func TestFetchRetries(t *testing.T) {
	data := randBytes(48, 8*MiB)
	src, id := seed(t, data)

	dst := openStore(t, t.TempDir())
	flaky := newSource(t, "flaky", src, id)
	flaky.failFirst = 2 // within the per-source limit, with one slot
	stats, err := fetch(t, dst, id, blob.FetchOptions{PerSource: 1}, flaky)
	if err != nil {
		t.Fatalf("a source that failed twice was dropped: %v", err)
	}
	checkStored(t, dst, id, data)
	if stats.Retries != 2 || len(stats.Failed) != 0 {
		t.Errorf("stats %+v: want 2 retries and none dropped", stats)
	}

	dst = openStore(t, t.TempDir())
	holey, full := newSource(t, "holey", src, id), newSource(t, "full", src, id)
	holey.lacks = 3 // chunk 2
	full.delay = 50 * time.Millisecond
	stats, err = fetch(t, dst, id, blob.FetchOptions{PerSource: 1}, holey, full)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, dst, id, data)
	if n := slices.Index(holey.gets(), 2); n < 0 || slices.Index(holey.gets()[n+1:], 2) >= 0 {
		t.Errorf("holey was asked for chunk 2 %v, want once", holey.gets())
	}
	if stats.Bytes["holey"] == 0 || len(stats.Failed) != 0 {
		t.Errorf("stats %+v: want holey kept", stats)
	}

	// A source that keeps failing is dropped.
	dst = openStore(t, t.TempDir())
	dead := newSource(t, "dead", src, id)
	dead.failFirst = 1 << 30
	if _, err := fetch(t, dst, id, blob.FetchOptions{}, dead); !errors.Is(err, blob.ErrUnavailable) || !strings.Contains(err.Error(), "stopped answering") {
		t.Fatalf("fetch from a dead source: %v", err)
	}
}

func TestFetchNoSource(t *testing.T) {
	src, id := seed(t, randBytes(45, 3*MiB))
	dst := openStore(t, t.TempDir())
	none := newSource(t, "none", src, id)
	none.noBlob = true
	broken := newSource(t, "broken", src, id)
	broken.haveErr = errors.New("stream reset")
	for _, srcs := range [][]*memSource{nil, {none, broken}} {
		_, err := fetch(t, dst, id, blob.FetchOptions{}, srcs...)
		if !errors.Is(err, blob.ErrUnavailable) || !strings.Contains(err.Error(), "no source has its manifest") && !strings.Contains(err.Error(), "no peer to ask") {
			t.Fatalf("fetch with no source: %v", err)
		}
		t.Log(err)
	}
	if dst.HasManifest(id) || dst.Leased(id) {
		t.Fatal("a failed fetch left a manifest or a lease")
	}

	// A source with the manifest but none of the chunks.
	other, _ := seed(t, nil)
	m, _ := src.Manifest(id)
	if _, err := other.PutManifest(m); err != nil {
		t.Fatal(err)
	}
	_, err := fetch(t, dst, id, blob.FetchOptions{}, newSource(t, "manifest-only", other, id))
	if !errors.Is(err, blob.ErrUnavailable) || !strings.Contains(err.Error(), "3 of 3 chunks missing") {
		t.Fatalf("fetch from a source without chunks: %v", err)
	}
}

func TestFetchCanceled(t *testing.T) {
	src, id := seed(t, randBytes(46, 8*MiB))
	dst := openStore(t, t.TempDir())
	s := newSource(t, "slow", src, id)
	s.delay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := blob.Fetch(ctx, dst, id, []blob.Source{s}, blob.FetchOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("canceled fetch: %v", err)
	}
}

func BenchmarkFetch(b *testing.B) {
	data := randBytes(47, 64*MiB)
	src, id := seed(b, data)
	var srcs []blob.Source
	for _, name := range []string{"a", "b", "c"} {
		srcs = append(srcs, newSource(b, name, src, id))
	}
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		dst := openStore(b, dir)
		b.StartTimer()
		if _, err := blob.Fetch(context.Background(), dst, id, srcs, blob.FetchOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
