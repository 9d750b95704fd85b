package node

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
)

// Blob transfer over /loam/blob/1 (see blob.BlobProtocolID): blob.Server
// answers a stream, blob.Client asks over one; the node wires them to its
// host, its store, its upload pacer and its peer accounting.

// blobTimeouts bound the waits of the blob protocol (the blob package's
// defaults but in tests).
type blobTimeouts struct {
	// serve bounds a served stream (blob.DefaultServeTimeouts).
	serve frame.Timeouts
	// request bounds each wait of a fetch for a peer
	// (blob.DefaultRequestTimeout).
	request time.Duration
}

var defaultBlobTimeouts = blobTimeouts{serve: blob.DefaultServeTimeouts, request: blob.DefaultRequestTimeout}

// serveBlobs answers the blob requests of one incoming stream (see
// blob.Server.Serve).
func (n *Node) serveBlobs(s p2p.Stream) {
	var h blob.Holder = n.blobs
	if n.corruptServe {
		h = corruptHolder{n.blobs}
	}
	srv := &blob.Server{
		Holder: h, Pacer: n.upload, Timeouts: n.blobTimeouts.serve,
		Sent: func(k int) {
			n.mu.Lock()
			n.counters.BlobBytesOut += uint64(k)
			n.mu.Unlock()
		},
	}
	srv.Serve(n.ctx, s)
}

// corruptHolder serves chunks with a bit flipped: a peer serving bad bytes
// (tests only: Node.corruptServe).
type corruptHolder struct{ *blob.Store }

func (h corruptHolder) Get(c blob.ChunkID) ([]byte, error) {
	data, err := h.Store.Get(c)
	if err != nil {
		return nil, err
	}
	data = append([]byte(nil), data...)
	data[0] ^= 1
	return data, nil
}

// GetInto is Get: the server reads through it when the holder has it.
func (h corruptHolder) GetInto(c blob.ChunkID, _ []byte) ([]byte, error) { return h.Get(c) }

// blobSource returns a blob.Source over /loam/blob/1 to peer.
func (n *Node) blobSource(peer keys.AuthorID) punishingSource {
	return punishingSource{n: n, peer: peer, c: &blob.Client{
		Name:    peer.String(),
		Timeout: n.blobTimeouts.request,
		Open: func(ctx context.Context) (blob.Stream, error) {
			return n.host.Open(ctx, peer, blob.BlobProtocolID)
		},
	}}
}

// punishingSource punishes the peer for an answer that breaks the
// protocol, as a malformed sync message is punished.
type punishingSource struct {
	n    *Node
	peer keys.AuthorID
	c    *blob.Client
}

// Close closes the streams the source keeps between requests.
func (s punishingSource) Close() error { return s.c.Close() }

func (s punishingSource) Peer() string { return s.c.Peer() }

func (s punishingSource) Have(ctx context.Context, id blob.BlobID) ([]byte, blob.Bitmap, error) {
	m, have, err := s.c.Have(ctx, id)
	return m, have, s.check(err)
}

func (s punishingSource) Get(ctx context.Context, id blob.BlobID, index int) ([]byte, error) {
	data, err := s.c.Get(ctx, id, index)
	return data, s.check(err)
}

// Recycle gives a chunk's buffer back to the client (blob.Recycler).
func (s punishingSource) Recycle(data []byte) { s.c.Recycle(data) }

// check punishes the peer if err is its fault, and returns err.
func (s punishingSource) check(err error) error {
	if errors.Is(err, blob.ErrBadBlobMsg) || errors.Is(err, frame.ErrMalformed) {
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
			src := n.blobSource(p)
			defer src.Close() // its streams, kept between requests
			sources = append(sources, src)
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
