package blob

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Source is one peer a blob can be fetched from: the transport side of
// /loam/blob/1 (or a test's in-memory store). Fetch calls its methods
// concurrently from several goroutines, so they must be safe for concurrent
// use, and they must return promptly once ctx is canceled (Fetch waits for
// every call to return before it does).
type Source interface {
	// Peer names the source in Stats and errors.
	Peer() string
	// Have reports what the source holds of blob id: the encoded
	// manifest (nil if it does not hold it) and the bitmap of the chunks
	// it holds (nil or empty if none; see Bitmap).
	Have(ctx context.Context, id BlobID) (manifest []byte, have Bitmap, err error)
	// Get returns chunk index of blob id. The bytes are verified by
	// Fetch; the source need not.
	Get(ctx context.Context, id BlobID, index int) ([]byte, error)
}

// Recycler is a Source whose Get results can be given back: Fetch calls
// Recycle with the data of each Get once it has stored or dropped it, and
// does not touch it afterwards, so that the source can read a later chunk
// into the same memory. Client is one.
type Recycler interface {
	Recycle(data []byte)
}

// DefaultPerSource is how many chunks Fetch has in flight from one source
// at a time unless FetchOptions says otherwise.
const DefaultPerSource = 4

// FetchOptions tunes Fetch. The zero value is ready to use.
type FetchOptions struct {
	// PerSource bounds the chunks in flight from one source
	// (DefaultPerSource if 0).
	PerSource int
	// Progress, if set, is called after the manifest is known and after
	// each chunk is stored, one call at a time, from Fetch's goroutines.
	// It must not call Fetch, and should return quickly.
	Progress func(Progress)
	// Size, if positive, is the size the blob must have (as its reference
	// says): a manifest of another size ends the fetch with
	// ErrSizeMismatch before any chunk is fetched, so that a reference
	// that lies about its size cannot make a node download more.
	Size int64
}

// ErrSizeMismatch reports a blob whose size is not the one its reference
// says.
var ErrSizeMismatch = errors.New("blob: the blob's size is not the one its reference says")

// Progress reports how far a download is.
type Progress struct {
	Done  int64            // bytes of the blob held, including those held before Fetch
	Total int64            // the blob's size
	Peers map[string]int64 // bytes stored from each peer by this Fetch
}

// Sources returns how many peers have sent chunks so far.
func (p Progress) Sources() int {
	n := 0
	for _, b := range p.Peers {
		if b > 0 {
			n++
		}
	}
	return n
}

// Stats describes one Fetch.
type Stats struct {
	Bytes      map[string]int64  // verified bytes stored, per peer
	Chunks     int               // chunks fetched and stored
	Requests   int               // Get calls made
	Rerequests int               // of those, endgame duplicates of a chunk already in flight
	Retries    int               // of those, failed ones whose chunk was asked again
	Corrupt    map[string]int    // chunks or manifests that did not verify, per peer (each drops the peer)
	Failed     map[string]string // peers dropped for an error, with it
	Duration   time.Duration
}

// Fetched returns the verified bytes stored from all peers.
func (s Stats) Fetched() int64 {
	var n int64
	for _, b := range s.Bytes {
		n += b
	}
	return n
}

// CorruptPeers returns the peers dropped for bytes that did not verify,
// sorted.
func (s Stats) CorruptPeers() []string { return slices.Sorted(maps.Keys(s.Corrupt)) }

// ErrUnavailable reports a blob, or some of its chunks, that no honest
// source could supply.
var ErrUnavailable = errors.New("no honest source could supply it")

// Fetch downloads blob id into st from sources and returns what it did.
//
// It leases the blob for the whole download, asks every source what it has,
// takes the manifest from the first source whose manifest verifies against
// id (or from st, if held), stores it, and then fetches only the chunks st
// is missing, so a download interrupted earlier resumes where it stopped.
//
// Scheduling: each source has PerSource slots, and a free slot takes the
// lowest missing chunk the source has that no one is fetching, so a faster
// source takes more chunks. When no chunk is left unassigned (the endgame), a
// free slot re-requests an in-flight chunk it has and is not already fetching
// (the one with the fewest requests, then the oldest), and the first answer
// that verifies wins; the others are canceled. A slow source thus does not
// hold up the tail.
//
// Every chunk is checked with Manifest.VerifyChunk before it is written. A
// source whose manifest or chunk does not verify is dropped for this blob
// and counted in Stats.Corrupt; one whose Have fails, or whose Gets fail
// maxGetFailures times in a row, is dropped and listed in Stats.Failed. A
// failed Get's chunk goes back to the others, and to the same source later
// (a timed-out request does not drop a slow source at once); a Get whose
// error wraps ErrNotFound (the source says it lacks the chunk) is not
// asked of that source again and does not count as a failure. Dropped
// sources' chunks are fetched from the other sources.
//
// Fetch returns when every chunk is stored, or when no source left can
// supply the rest: then the error wraps ErrUnavailable and lists the chunks
// missing; the chunks stored so far are kept. A failure to write st, or ctx
// canceled, ends it early. Every goroutine Fetch starts has ended when it
// returns.
func Fetch(ctx context.Context, st *Store, id BlobID, sources []Source, opts FetchOptions) (stats Stats, err error) {
	start := time.Now()
	stats = Stats{Bytes: map[string]int64{}, Corrupt: map[string]int{}, Failed: map[string]string{}}
	release := st.Lease(id)
	defer release()
	defer func() { stats.Duration = time.Since(start) }()
	// Chunks are written without waiting for the disk, and made durable
	// together when Fetch ends, whichever way it ends.
	defer func() {
		if serr := st.Sync(); serr != nil && err == nil {
			err = serr
		}
	}()

	srcs, m, err := fetchManifest(ctx, st, id, sources, &stats)
	if err != nil {
		return stats, err
	}
	if opts.Size > 0 && m.Size != opts.Size {
		return stats, fmt.Errorf("blob: fetch %s: %w: it has %d bytes, the reference says %d", id, ErrSizeMismatch, m.Size, opts.Size)
	}
	missing := st.Missing(m)
	f := &fetcher{
		st:       st,
		id:       id,
		m:        m,
		srcs:     srcs,
		opts:     opts,
		stats:    &stats,
		state:    make([]chunkState, len(m.Chunks)),
		inflight: map[int][]*request{},
		changed:  make(chan struct{}),
		done:     m.Size,
	}
	if f.opts.PerSource <= 0 {
		f.opts.PerSource = DefaultPerSource
	}
	for i := range f.state {
		f.state[i] = chunkDone
	}
	f.cursor = len(m.Chunks)
	for _, i := range missing {
		f.state[i] = chunkPending
		f.pending++
		f.cursor = min(f.cursor, i)
		f.done -= int64(m.ChunkLen(i))
		for _, s := range f.srcs {
			if s.have.Has(i) {
				s.remaining++
			}
		}
	}
	f.progress()
	if len(missing) > 0 {
		f.run(ctx)
	}
	if f.err != nil {
		return stats, fmt.Errorf("blob: fetch %s: %w", id, f.err)
	}
	if err := ctx.Err(); err != nil {
		return stats, fmt.Errorf("blob: fetch %s: %w", id, err)
	}
	if left := st.Missing(m); len(left) > 0 {
		return stats, fmt.Errorf("blob: fetch %s: %w: %d of %d chunks missing (%s)%s",
			id, ErrUnavailable, len(left), len(m.Chunks), ranges(left), dropped(&stats))
	}
	return stats, nil
}

// maxGetFailures is how many Gets of one source may fail in a row before
// it is dropped.
const maxGetFailures = 3

// fetchSource is a source with what it said it has.
type fetchSource struct {
	src       Source
	peer      string
	have      Bitmap // what it said it has, less the chunks it then said it lacks
	dropped   bool
	remaining int // chunks not yet stored that it has
	failures  int // Gets failed in a row
}

// fetchManifest asks every source what it has, in parallel, and returns the
// sources that answered with a well-formed bitmap and the verified manifest.
func fetchManifest(ctx context.Context, st *Store, id BlobID, sources []Source, stats *Stats) ([]*fetchSource, Manifest, error) {
	type answer struct {
		manifest []byte
		have     Bitmap
		err      error
	}
	answers := make([]answer, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Go(func() {
			a := &answers[i]
			a.manifest, a.have, a.err = s.Have(ctx, id)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, Manifest{}, fmt.Errorf("blob: fetch %s: %w", id, err)
	}

	m, err := st.Manifest(id)
	known := err == nil
	asked := make([]string, 0, len(sources))
	for i, a := range answers {
		peer := sources[i].Peer()
		asked = append(asked, peer)
		if a.err != nil {
			stats.Failed[peer] = a.err.Error()
			continue
		}
		if !known && a.manifest != nil {
			got, err := VerifyManifest(id, a.manifest)
			if err != nil {
				stats.Corrupt[peer]++
				continue
			}
			m, known = got, true
		}
	}
	if !known && len(sources) == 0 {
		return nil, Manifest{}, fmt.Errorf("blob: fetch %s: %w: no peer to ask (connect to a peer that has it, e.g. by joining a space it is in)", id, ErrUnavailable)
	}
	if !known {
		return nil, Manifest{}, fmt.Errorf("blob: fetch %s: %w: no source has its manifest (asked %d: %s)%s",
			id, ErrUnavailable, len(sources), strings.Join(asked, ", "), dropped(stats))
	}
	if _, err := st.PutManifest(m); err != nil {
		return nil, Manifest{}, fmt.Errorf("blob: fetch %s: %w", id, err)
	}
	var srcs []*fetchSource
	for i, a := range answers {
		peer := sources[i].Peer()
		if a.err != nil || stats.Corrupt[peer] > 0 {
			continue
		}
		if len(a.have) == 0 {
			a.have = NewBitmap(len(m.Chunks))
		}
		if err := a.have.check(len(m.Chunks)); err != nil {
			stats.Failed[peer] = err.Error()
			continue
		}
		srcs = append(srcs, &fetchSource{src: sources[i], peer: peer, have: slices.Clone(a.have)})
	}
	return srcs, m, nil
}

type chunkState uint8

const (
	chunkPending chunkState = iota // missing, no request in flight
	chunkActive                    // requested, or being stored
	chunkDone                      // stored
)

// request is one Get in flight.
type request struct {
	src    *fetchSource
	chunk  int
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	live   bool // still listed in fetcher.inflight
}

// fetcher is the state of one Fetch's chunk phase. mu guards everything
// below it; progressMu serializes Progress calls.
type fetcher struct {
	st    *Store
	id    BlobID
	m     Manifest
	srcs  []*fetchSource
	opts  FetchOptions
	ctx   context.Context
	abort context.CancelFunc

	progressMu sync.Mutex

	mu       sync.Mutex
	stats    *Stats
	state    []chunkState
	pending  int                // chunks in chunkPending
	cursor   int                // no chunk below it is pending
	inflight map[int][]*request // live requests per chunk
	storing  []bool
	changed  chan struct{} // closed and replaced on every change a waiting slot may care about
	done     int64         // bytes held
	err      error         // fatal: a write failed
}

// run starts PerSource slots per source and waits for them all.
func (f *fetcher) run(ctx context.Context) {
	f.ctx, f.abort = context.WithCancel(ctx)
	defer f.abort()
	f.storing = make([]bool, len(f.m.Chunks))
	var wg sync.WaitGroup
	for _, s := range f.srcs {
		for range f.opts.PerSource {
			wg.Go(func() { f.slot(s) })
		}
	}
	wg.Wait()
}

// slot fetches chunks from s, one at a time, until there is nothing left s
// could do.
func (f *fetcher) slot(s *fetchSource) {
	for {
		r := f.next(s)
		if r == nil {
			return
		}
		data, err := s.src.Get(r.ctx, f.id, r.chunk)
		f.finish(r, data, err)
	}
}

// broadcast wakes every waiting slot. f.mu is held.
func (f *fetcher) broadcast() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// next returns s's next request, waiting while s has nothing to do but may
// have later, or nil when it never will.
func (f *fetcher) next(s *fetchSource) *request {
	for {
		f.mu.Lock()
		if f.err != nil || s.dropped || s.remaining == 0 || f.ctx.Err() != nil {
			f.mu.Unlock()
			return nil
		}
		if r := f.assign(s); r != nil {
			f.mu.Unlock()
			return r
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-f.ctx.Done():
			return nil
		}
	}
}

// assign picks a chunk for s and records the request, or returns nil.
// f.mu is held.
func (f *fetcher) assign(s *fetchSource) *request {
	chunk := -1
	if f.pending > 0 {
		for f.cursor < len(f.state) && f.state[f.cursor] != chunkPending {
			f.cursor++
		}
		for i := f.cursor; i < len(f.state); i++ {
			if f.state[i] == chunkPending && s.have.Has(i) {
				chunk = i
				break
			}
		}
		if chunk < 0 {
			return nil
		}
		f.state[chunk] = chunkActive
		f.pending--
	} else {
		// Endgame: duplicate the in-flight chunk with the fewest
		// requests, then the oldest, that s has and is not fetching.
		var best []*request
		for i, reqs := range f.inflight {
			if !s.have.Has(i) || f.storing[i] || slices.ContainsFunc(reqs, func(r *request) bool { return r.src == s }) {
				continue
			}
			if best == nil || len(reqs) < len(best) ||
				len(reqs) == len(best) && (reqs[0].start.Before(best[0].start) || reqs[0].start.Equal(best[0].start) && i < best[0].chunk) {
				best = reqs
			}
		}
		if best == nil {
			return nil
		}
		chunk = best[0].chunk
		f.stats.Rerequests++
	}
	r := &request{src: s, chunk: chunk, start: time.Now(), live: true}
	r.ctx, r.cancel = context.WithCancel(f.ctx)
	f.inflight[chunk] = append(f.inflight[chunk], r)
	f.stats.Requests++
	return r
}

// remove unlists r and cancels it; a chunk left with no request and not
// being stored goes back to pending. f.mu is held.
func (f *fetcher) remove(r *request) {
	r.cancel()
	if !r.live {
		return
	}
	r.live = false
	reqs := slices.DeleteFunc(f.inflight[r.chunk], func(x *request) bool { return x == r })
	if len(reqs) > 0 {
		f.inflight[r.chunk] = reqs
		return
	}
	delete(f.inflight, r.chunk)
	if f.state[r.chunk] == chunkActive && !f.storing[r.chunk] {
		f.state[r.chunk] = chunkPending
		f.pending++
		f.cursor = min(f.cursor, r.chunk)
	}
}

// drop stops using s for this blob and reschedules its chunks. f.mu is held.
func (f *fetcher) drop(s *fetchSource) {
	s.dropped = true
	var mine []*request // collected first: remove edits the lists
	for _, reqs := range f.inflight {
		for _, r := range reqs {
			if r.src == s {
				mine = append(mine, r)
			}
		}
	}
	for _, r := range mine {
		f.remove(r)
	}
}

// finish handles the answer to r.
func (f *fetcher) finish(r *request, data []byte, err error) {
	i, s := r.chunk, r.src
	if rc, ok := s.src.(Recycler); ok && data != nil {
		defer rc.Recycle(data) // last: after f.mu is unlocked
	}
	var verr error
	if err == nil {
		// Outside the lock: it hashes a chunk. Checked even when r was
		// canceled meanwhile (the chunk came from elsewhere): bytes that
		// do not verify show the source cannot be trusted, and a corrupt
		// source that always answers late would otherwise be asked again
		// and again.
		verr = f.m.VerifyChunk(i, data)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.broadcast()
	switch {
	case verr != nil && !s.dropped && f.err == nil:
		// Bytes that do not verify drop s even if the chunk has come
		// from elsewhere meanwhile: they show s cannot be trusted.
		f.stats.Corrupt[s.peer]++
		f.drop(s)
		return
	case !r.live || r.ctx.Err() != nil || f.state[i] == chunkDone || f.err != nil:
		// Canceled (the chunk came from elsewhere, s was dropped, or
		// Fetch is ending): whatever came back is not used.
		f.remove(r)
		return
	case err != nil && errors.Is(err, ErrNotFound):
		// s says it lacks the chunk: the others are asked for it.
		if s.have.Has(i) {
			s.have.clear(i)
			s.remaining--
		}
		f.stats.Retries++
		f.remove(r)
		return
	case err != nil:
		if s.failures++; s.failures >= maxGetFailures {
			f.stats.Failed[s.peer] = fmt.Sprintf("chunk %d: %v", i, err)
			f.drop(s)
			return
		}
		f.stats.Retries++
		f.remove(r) // asked again, of whichever source is free first
		return
	case f.storing[i]:
		f.remove(r) // another answer for the chunk is being written
		return
	}

	f.storing[i] = true
	f.mu.Unlock()
	// VerifyChunk has checked data against m.Chunks[i], so the store
	// need not hash it again.
	perr := f.st.putDirect(f.m.Chunks[i], data)
	f.mu.Lock()
	f.storing[i] = false
	if perr != nil {
		f.remove(r)
		if f.err == nil {
			f.err = perr
		}
		f.abort()
		return
	}
	f.state[i] = chunkDone
	s.failures = 0
	for _, x := range slices.Clone(f.inflight[i]) {
		f.remove(x)
	}
	f.done += int64(len(data))
	f.stats.Bytes[s.peer] += int64(len(data))
	f.stats.Chunks++
	for _, x := range f.srcs {
		if x.have.Has(i) {
			x.remaining--
		}
	}
	if f.opts.Progress != nil {
		p := Progress{Done: f.done, Total: f.m.Size, Peers: maps.Clone(f.stats.Bytes)}
		// Report outside f.mu, but in order: take progressMu first.
		f.mu.Unlock()
		f.progressMu.Lock()
		f.mu.Lock()
		if f.done == p.Done { // no later report is waiting behind this one
			f.mu.Unlock()
			f.opts.Progress(p)
			f.mu.Lock()
		}
		f.progressMu.Unlock()
	}
}

// progress reports the state before any chunk is fetched.
func (f *fetcher) progress() {
	if f.opts.Progress != nil {
		f.opts.Progress(Progress{Done: f.done, Total: f.m.Size, Peers: map[string]int64{}})
	}
}

// ranges formats sorted chunk indices as "0-3, 7, 9-10", at most 10 runs.
func ranges(idx []int) string {
	var runs []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if len(runs) == 10 {
			runs = append(runs, "…")
			break
		}
		if i == j {
			runs = append(runs, fmt.Sprint(idx[i]))
		} else {
			runs = append(runs, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	return "chunks " + strings.Join(runs, ", ")
}

// dropped describes the sources a Fetch gave up on, for an error message.
func dropped(stats *Stats) string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(stats.Corrupt)) {
		parts = append(parts, fmt.Sprintf("%s sent %d that did not verify", p, stats.Corrupt[p]))
	}
	for _, p := range slices.Sorted(maps.Keys(stats.Failed)) {
		parts = append(parts, fmt.Sprintf("%s failed: %s", p, stats.Failed[p]))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; dropped: " + strings.Join(parts, "; ")
}
