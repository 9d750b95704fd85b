package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
)

// Blob transfer over /loam/blob/1 (see blob.BlobProtocolID).
//
// Frames are a uvarint length and that many bytes, as in the sync protocol
// (reconcile.StreamConn), but bounded by blob.MaxBlobFrame rather than
// reconcile.MaxFrame: a Have carrying the manifest of a large blob (up to
// 32 MiB) does not fit the sync protocol's limit.
//
// Fetching opens one stream per Source call: a Want for each Have, a Get of
// a single chunk for each Get. That is the simplest correct mapping of the
// Source interface onto streams, since Fetch calls a source concurrently
// (up to FetchOptions.PerSource calls in flight) and each call must be
// cancelable on its own: resetting its stream cancels exactly that call.
// The cost is one stream negotiation (a multistream round trip on the
// existing connection) per 1 MiB chunk, and no batching of Gets into runs
// of up to blob.MaxGetCount chunks. A long-lived stream per source with
// pipelined, batched Gets would remove both; it needs request matching and
// cancellation inside the stream, and is left for later.

// blobTimeouts bound the waits of the blob protocol (defaultBlobTimeouts
// but in tests).
type blobTimeouts struct {
	// idle bounds how long a served stream waits for the next request.
	idle time.Duration
	// frame bounds how long the rest of a request frame may take once
	// its first byte has arrived: a peer that trickles a frame is dropped.
	frame time.Duration
	// write bounds each write of an answer: a peer that stops reading is
	// dropped. The pacer's waits come before the writes and do not count.
	write time.Duration
	// request bounds how long a fetch waits for the next byte of an
	// answer (and for a stream to open, and its request to be written): a
	// peer that stops answering is dropped, one that answers slowly, as a
	// throttled seeder does, is not.
	request time.Duration
}

var defaultBlobTimeouts = blobTimeouts{idle: 2 * time.Minute, frame: 20 * time.Second, write: time.Minute, request: time.Minute}

const (
	// maxRequestFrame bounds a frame the server reads: Want and Get are
	// under 100 bytes.
	maxRequestFrame = 1 << 10
	// minPiece and maxPiece bound the unit of writing and of pacing: a
	// frame is written in pieces, each once the upload rate allows, so
	// that every request a throttled seeder serves makes progress, and the
	// client's wait for the next byte measures a peer that stopped, not a
	// queue. A piece is an eighth of a second at the upload rate, within
	// these bounds: at 64 KiB/s, 240 requests served at once each get a
	// piece every minute (defaultBlobTimeouts.request).
	minPiece = 16 << 10
	maxPiece = 256 << 10
)

// errBlobFrame reports a frame longer than its limit, or empty.
var errBlobFrame = errors.New("node: bad blob frame")

// errBlobStalled reports a peer that sent nothing for the blob timeout.
var errBlobStalled = errors.New("node: the blob stream stalled")

// blobConn frames a blob stream. Each read and write has a deadline: the
// stream's only deadline is for both directions, so whoever reads or
// writes next sets it.
type blobConn struct {
	s p2p.Stream
	r *bufio.Reader
}

func newBlobConn(s p2p.Stream, idle time.Duration) *blobConn {
	return &blobConn{s: s, r: bufio.NewReaderSize(idleReader{s, idle}, 64<<10)}
}

// idleReader fails a Read that gets no byte within idle.
type idleReader struct {
	s    p2p.Stream
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		r.s.SetDeadline(time.Now().Add(r.idle))
	}
	return r.s.Read(p)
}

// read reads and decodes one message of at most limit bytes.
func (c *blobConn) read(limit int) (*blob.BlobMsg, error) {
	b, err := readFrame(c.r, limit)
	if err != nil {
		return nil, err
	}
	return blob.DecodeBlobMsg(b)
}

// readFrame reads one frame, a uvarint length in its shortest form and
// that many bytes, of at most limit bytes. Its buffer grows as the bytes
// arrive: a peer that announces a large frame and sends little costs only
// what it sent.
func readFrame(r *bufio.Reader, limit int) ([]byte, error) {
	var n uint64
	for i := 0; ; i++ {
		if i == binary.MaxVarintLen32 { // limits are under 4 GiB
			return nil, fmt.Errorf("%w: a length of over %d bytes", errBlobFrame, i)
		}
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if i > 0 && c == 0 {
			return nil, fmt.Errorf("%w: a length not in its shortest form", errBlobFrame)
		}
		n |= uint64(c&0x7f) << (7 * i)
		if n > uint64(limit) {
			return nil, fmt.Errorf("%w: over %d bytes, the limit", errBlobFrame, limit)
		}
		if c < 0x80 {
			break
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: an empty frame", errBlobFrame)
	}
	size := int(n)
	b := make([]byte, min(size, blob.ChunkSize+1024)) // a chunk's frame at once
	for read := 0; ; {
		if _, err := io.ReadFull(r, b[read:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // inside a frame
			}
			return nil, err
		}
		if read = len(b); read == size {
			return b, nil
		}
		b = slices.Grow(b, min(size-read, read))
		b = b[:read+min(size-read, read)]
	}
}

// write encodes m and writes it in pieces of piece bytes, each within
// timeout, calling pace(n) before each piece of n bytes if pace is not
// nil.
func (c *blobConn) write(m *blob.BlobMsg, piece int, timeout time.Duration, pace func(n int) error) error {
	b := m.Encode()
	frame := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(b)), uint64(len(b)))
	frame = append(frame, b...)
	for len(frame) > 0 {
		p := frame[:min(len(frame), piece)]
		if pace != nil {
			if err := pace(len(p)); err != nil {
				return err
			}
		}
		c.s.SetDeadline(time.Now().Add(timeout))
		if _, err := c.s.Write(p); err != nil {
			return err
		}
		frame = frame[len(p):]
	}
	return nil
}

// serveBlobs answers the blob requests of one incoming stream until the
// peer closes it, it fails, or a frame is malformed (the stream is reset).
//
// A goroutine reads ahead while a request is served, so that the peer
// resetting the stream (a download cancelling a request it no longer
// needs) cancels the request at once: a Get waiting for its turn under the
// upload rate then gives up its place instead of using the upload budget.
// (A peer that closed its side after its request, as streamSource does, is
// read to its end at once; its reset is then seen at the next write, which
// costs at most one piece of the budget.)
// A peer that sends no request, takes too long to send one, or reads
// nothing of an answer for longer than the node's blobTimeouts allow is
// dropped.
func (n *Node) serveBlobs(s p2p.Stream) {
	c := newBlobConn(s, 0)
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	type next struct {
		m   *blob.BlobMsg
		err error
	}
	reqs := make(chan next)
	go func() {
		defer close(reqs)
		for {
			m, err := n.readRequest(s, c)
			if err != nil && !errors.Is(err, io.EOF) {
				cancel() // reset, malformed or too slow: stop serving at once
			}
			select {
			case reqs <- next{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for r := range reqs {
		if r.err != nil {
			if errors.Is(r.err, io.EOF) {
				s.Close() // the peer is done
			} else {
				s.Reset() // malformed, or the stream failed
			}
			return
		}
		var err error
		switch r.m.Type {
		case blob.BlobMsgWant:
			err = c.write(n.blobHave(r.m.Blob), maxPiece, n.blobTimeouts.write, nil)
		case blob.BlobMsgGet:
			err = n.serveGet(ctx, c, r.m)
		default: // Have, Chunk and Err are answers, not requests
			err = fmt.Errorf("%w: unexpected message type %d", blob.ErrBadBlobMsg, r.m.Type)
		}
		if err != nil {
			s.Reset()
			return
		}
	}
	s.Reset() // the reader gave up (the stream failed) before saying why
}

// readRequest reads the next request of a served stream: its first byte
// within the idle timeout, the rest within the frame timeout.
func (n *Node) readRequest(s p2p.Stream, c *blobConn) (*blob.BlobMsg, error) {
	s.SetDeadline(time.Now().Add(n.blobTimeouts.idle))
	if _, err := c.r.Peek(1); err != nil {
		return nil, err
	}
	s.SetDeadline(time.Now().Add(n.blobTimeouts.frame))
	return c.read(maxRequestFrame)
}

// blobHave is the answer to a Want for blob id.
func (n *Node) blobHave(id blob.BlobID) *blob.BlobMsg {
	m, err := n.blobs.Manifest(id)
	if err != nil {
		return &blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id} // not held
	}
	return &blob.BlobMsg{
		Type: blob.BlobMsgHave, Blob: id,
		Manifest: m.Encode(), Chunks: len(m.Chunks), Have: n.blobs.Bitmap(m),
	}
}

// serveGet answers a Get with one Chunk per chunk, or an Err at the first
// chunk that is not held. It returns only write errors.
func (n *Node) serveGet(ctx context.Context, c *blobConn, g *blob.BlobMsg) error {
	fail := func(format string, args ...any) error {
		reason := fmt.Sprintf(format, args...)
		if len(reason) > blob.MaxReasonLen {
			reason = reason[:blob.MaxReasonLen]
		}
		return c.write(&blob.BlobMsg{Type: blob.BlobMsgErr, Reason: reason}, maxPiece, n.blobTimeouts.write, nil)
	}
	m, err := n.blobs.Manifest(g.Blob)
	if err != nil {
		return fail("blob %s not held", g.Blob)
	}
	if g.Index+g.Count > len(m.Chunks) {
		return fail("chunks %d+%d beyond the %d of blob %s", g.Index, g.Count, len(m.Chunks), g.Blob)
	}
	t := n.upload.take() // the answer's place in line under the upload rate
	for i := g.Index; i < g.Index+g.Count; i++ {
		data, err := n.blobs.Get(m.Chunks[i])
		if err != nil {
			return fail("chunk %d of blob %s not held", i, g.Blob)
		}
		if n.corruptServe { // tests only: a peer serving bad bytes
			data = append([]byte(nil), data...)
			data[0] ^= 1
		}
		// Each piece waits for its turn under the upload rate (the
		// frame's few bytes besides the data are not counted).
		pace := func(k int) error { return t.wait(ctx, k) }
		if err := c.write(&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: g.Blob, Index: i, Data: data}, n.upload.piece(), n.blobTimeouts.write, pace); err != nil {
			return err
		}
		n.mu.Lock()
		n.counters.BlobBytesOut += uint64(len(data))
		n.mu.Unlock()
	}
	return nil
}

// streamSource is a blob.Source over /loam/blob/1 to one peer: each call
// opens its own stream (see the comment at the top of this file).
type streamSource struct {
	n    *Node
	peer keys.AuthorID
}

func (s streamSource) Peer() string { return s.peer.String() }

// exchange sends req on a new stream and returns the one answer. Opening
// the stream and writing the request must each take under the node's blob
// timeout, and so must the wait for each byte of the answer; the answer as
// a whole may take longer (a throttled seeder sends it slowly).
func (s streamSource) exchange(ctx context.Context, req *blob.BlobMsg) (*blob.BlobMsg, error) {
	octx, cancel := context.WithTimeout(ctx, s.n.blobTimeouts.request)
	st, err := s.n.host.Open(octx, s.peer, blob.BlobProtocolID)
	cancel()
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	c := newBlobConn(st, s.n.blobTimeouts.request)
	if err := c.write(req, maxPiece, s.n.blobTimeouts.request, nil); err != nil {
		st.Reset()
		return nil, fmt.Errorf("node: blob request to %s: %w", s.peer.Short(), s.streamErr(ctx, err))
	}
	st.CloseWrite() // one request per stream: the server sees EOF after it
	resp, err := c.read(blob.MaxBlobFrame)
	if err != nil {
		st.Reset()
		return nil, fmt.Errorf("node: blob answer from %s: %w", s.peer.Short(), s.streamErr(ctx, err))
	}
	st.Close()
	return resp, nil
}

// streamErr prefers ctx's error to the stream error it caused, and says
// what a deadline means.
func (s streamSource) streamErr(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: nothing came for %v (the peer stopped answering)", errBlobStalled, s.n.blobTimeouts.request)
	}
	return err
}

func (s streamSource) Have(ctx context.Context, id blob.BlobID) ([]byte, blob.Bitmap, error) {
	resp, err := s.exchange(ctx, &blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id})
	if err == nil && (resp.Type != blob.BlobMsgHave || resp.Blob != id) {
		err = fmt.Errorf("%w: answer to want is type %d for %s", blob.ErrBadBlobMsg, resp.Type, resp.Blob.Short())
	}
	if err != nil {
		return nil, nil, s.check(err)
	}
	return resp.Manifest, resp.Have, nil
}

func (s streamSource) Get(ctx context.Context, id blob.BlobID, index int) ([]byte, error) {
	resp, err := s.exchange(ctx, &blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: index, Count: 1})
	switch {
	case err != nil:
	case resp.Type == blob.BlobMsgErr:
		return nil, fmt.Errorf("node: %s: %s: %w", s.peer.Short(), resp.Reason, blob.ErrNotFound)
	case resp.Type != blob.BlobMsgChunk || resp.Blob != id || resp.Index != index:
		err = fmt.Errorf("%w: answer to get of chunk %d is type %d, chunk %d", blob.ErrBadBlobMsg, index, resp.Type, resp.Index)
	}
	if err != nil {
		return nil, s.check(err)
	}
	return resp.Data, nil
}

// check punishes the peer for an answer that breaks the protocol, as a
// malformed sync message is punished, and returns err.
func (s streamSource) check(err error) error {
	if errors.Is(err, blob.ErrBadBlobMsg) || errors.Is(err, errBlobFrame) {
		s.n.punish(s.peer, "malformed_blob_message", err)
	}
	return err
}

// AddBlob stores r as a blob, pinned so that GC keeps it.
func (n *Node) AddBlob(ctx context.Context, r io.Reader) (blob.BlobID, blob.Manifest, error) {
	id, m, release, err := n.addLeased(ctx, r)
	if err != nil {
		return id, m, err
	}
	defer release() // held until pinned, so a GC in between cannot take it
	if err := n.blobs.Pin(id); err != nil {
		return id, m, err
	}
	return id, m, nil
}

// FetchBlob downloads blob id from peers, or from every connected peer if
// peers is empty, and pins it once complete. See blob.Fetch; an error wraps
// blob.ErrUnavailable if the peers together do not have the whole blob.
// A peer that serves bytes that do not verify is punished as a misbehaving
// sync peer is: disconnected and blocked for a while.
func (n *Node) FetchBlob(ctx context.Context, id blob.BlobID, peers []keys.AuthorID, opts blob.FetchOptions) (blob.Stats, error) {
	return n.fetchBlob(ctx, id, peers, opts, true)
}

func (n *Node) fetchBlob(ctx context.Context, id blob.BlobID, peers []keys.AuthorID, opts blob.FetchOptions, pin bool) (blob.Stats, error) {
	switch {
	case n.host == nil && !n.BlobComplete(id):
		return blob.Stats{}, ErrOffline
	case n.host == nil:
		peers = nil // held whole: Fetch needs no source, and reports the progress
	case len(peers) == 0:
		for _, p := range n.host.Peers() {
			if p.Connected {
				peers = append(peers, p.ID)
			}
		}
	}
	sources := make([]blob.Source, 0, len(peers))
	for _, p := range peers {
		if p != n.dev.Author() {
			sources = append(sources, streamSource{n: n, peer: p})
		}
	}
	release := n.blobs.Lease(id) // until pinned or referenced
	defer n.releaseBlob(release)
	n.countBlobFetch(1)
	n.log.Info("blob fetch started", "blob", id.String(), "peers", len(sources))
	stats, err := blob.Fetch(ctx, n.blobs, id, sources, opts)
	n.logBlobFetched(id, stats, err)
	n.countBlobFetch(-1)
	for peer := range stats.Corrupt {
		if a, perr := keys.ParseAuthorID(peer); perr == nil {
			n.punish(a, "corrupt_blob", errors.New("it served blob bytes that do not verify"))
		}
	}
	n.mu.Lock()
	n.counters.BlobBytesIn += uint64(stats.Fetched())
	n.mu.Unlock()
	if err != nil {
		return stats, err
	}
	if pin {
		if err := n.blobs.Pin(id); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// OpenBlob returns a reader over a stored blob; Close it when done.
func (n *Node) OpenBlob(id blob.BlobID) (*blob.Reader, error) {
	return n.blobs.Open(id)
}

// Blobs returns the node's blob store.
func (n *Node) Blobs() *blob.Store { return n.blobs }
