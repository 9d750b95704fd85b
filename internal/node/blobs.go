package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

const (
	// blobIdle bounds how long a served stream waits for the next request.
	blobIdle = 2 * time.Minute
	// blobRequestTimeout bounds one Have or Get exchange of a fetch, so a
	// peer that stops answering is dropped rather than holding Fetch.
	blobRequestTimeout = time.Minute
)

// errBlobFrame reports a frame longer than blob.MaxBlobFrame or empty.
var errBlobFrame = errors.New("node: bad blob frame")

// blobConn frames a blob stream.
type blobConn struct {
	r *bufio.Reader
	w io.Writer
}

func newBlobConn(s p2p.Stream) *blobConn {
	return &blobConn{r: bufio.NewReaderSize(s, 64<<10), w: s}
}

// read reads and decodes one message.
func (c *blobConn) read() (*blob.BlobMsg, error) {
	n, err := binary.ReadUvarint(c.r)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > blob.MaxBlobFrame {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", errBlobFrame, n, blob.MaxBlobFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	return blob.DecodeBlobMsg(b)
}

// write encodes and writes one message.
func (c *blobConn) write(m *blob.BlobMsg) error {
	b := m.Encode()
	hdr := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(b)), uint64(len(b)))
	_, err := c.w.Write(append(hdr, b...))
	return err
}

// serveBlobs answers the blob requests of one incoming stream until the
// peer closes it, it fails, or a frame is malformed (the stream is reset).
//
// A goroutine reads ahead while a request is served, so that the peer
// resetting the stream (a download cancelling a request it no longer
// needs) cancels the request at once: a Get waiting for its turn under the
// upload rate then gives up its place instead of using the upload budget.
func (n *Node) serveBlobs(s p2p.Stream) {
	c := newBlobConn(s)
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
			s.SetDeadline(time.Now().Add(blobIdle))
			m, err := c.read()
			if err != nil && !errors.Is(err, io.EOF) {
				cancel() // reset or malformed: stop serving at once
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
			err = c.write(n.blobHave(r.m.Blob))
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
		return c.write(&blob.BlobMsg{Type: blob.BlobMsgErr, Reason: reason})
	}
	m, err := n.blobs.Manifest(g.Blob)
	if err != nil {
		return fail("blob %s not held", g.Blob)
	}
	if g.Index+g.Count > len(m.Chunks) {
		return fail("chunks %d+%d beyond the %d of blob %s", g.Index, g.Count, len(m.Chunks), g.Blob)
	}
	for i := g.Index; i < g.Index+g.Count; i++ {
		data, err := n.blobs.Get(m.Chunks[i])
		if err != nil {
			return fail("chunk %d of blob %s not held", i, g.Blob)
		}
		if err := n.upload.wait(ctx, len(data)); err != nil {
			return err
		}
		if n.corruptServe { // tests only: a peer serving bad bytes
			data = append([]byte(nil), data...)
			data[0] ^= 1
		}
		if err := c.write(&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: g.Blob, Index: i, Data: data}); err != nil {
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

// exchange sends req on a new stream and returns the one answer.
func (s streamSource) exchange(ctx context.Context, req *blob.BlobMsg) (*blob.BlobMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, blobRequestTimeout)
	defer cancel()
	st, err := s.n.host.Open(ctx, s.peer, blob.BlobProtocolID)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	c := newBlobConn(st)
	if err := c.write(req); err != nil {
		st.Reset()
		return nil, fmt.Errorf("node: blob request to %s: %w", s.peer.Short(), ctxErr(ctx, err))
	}
	st.CloseWrite() // one request per stream: the server sees EOF after it
	resp, err := c.read()
	if err != nil {
		st.Reset()
		return nil, fmt.Errorf("node: blob answer from %s: %w", s.peer.Short(), ctxErr(ctx, err))
	}
	st.Close()
	return resp, nil
}

// ctxErr prefers ctx's error to the stream error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
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
		return nil, fmt.Errorf("node: %s: %s", s.peer.Short(), resp.Reason)
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
		s.n.punish(s.peer, "malformed_blob_message")
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
	stats, err := blob.Fetch(ctx, n.blobs, id, sources, opts)
	n.countBlobFetch(-1)
	for peer := range stats.Corrupt {
		if a, perr := keys.ParseAuthorID(peer); perr == nil {
			n.punish(a, "corrupt_blob")
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
