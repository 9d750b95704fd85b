package blob

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/frame"
)

// Serving /loam/blob/1 (BlobProtocolID) on one stream, and asking over it
// (Client): frames are read and written by package frame, as the sync
// protocol's are, with one set of errors (frame.ErrMalformed: the peer
// misbehaved; frame.ErrTimeout: it was too slow), but bounded by
// MaxBlobFrame: a Have carrying the manifest of a large blob (up to
// 32 MiB) does not fit the sync protocol's limit.

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
	// piece every minute (DefaultRequestTimeout).
	minPiece = 16 << 10
	maxPiece = 256 << 10
)

// DefaultServeTimeouts bound a served stream: two minutes for the next
// request to begin; 20 seconds for the rest of a request frame once its
// first byte arrived (a peer that trickles a frame is dropped); and 20
// seconds plus a piece's size at 8 KiB/s (under a minute for the largest
// piece) for each piece of an answer to be taken up (a peer that stops
// reading is dropped). The pacer's waits come before the writes and do
// not count.
var DefaultServeTimeouts = frame.Timeouts{Idle: 2 * time.Minute, Grace: 20 * time.Second, MinRate: 8 << 10}

// DefaultRequestTimeout bounds each wait of a Client: for a stream to
// open, its request to be written, and each byte of the answer. The
// answer as a whole has no bound: a throttled seeder sends it slowly but
// steadily (see Pacer).
const DefaultRequestTimeout = time.Minute

// Stream is a bidirectional stream of the blob protocol: p2p.Stream is
// one. If it has deadlines (frame.Deadliner), every wait for the peer is
// bounded.
type Stream interface {
	io.ReadWriter
	// CloseWrite tells the peer no more data will come.
	CloseWrite() error
	// Close ends the stream without waiting for the peer.
	Close() error
	// Reset aborts both directions; blocked reads and writes fail.
	Reset() error
}

// Holder is what a Server serves: the chunks and manifests held (a *Store).
type Holder interface {
	Manifest(id BlobID) (Manifest, error)
	Bitmap(m Manifest) Bitmap
	Get(c ChunkID) ([]byte, error)
}

// bufferedHolder is a Holder that can read a chunk into a buffer it is
// given (a *Store): a Server then reads chunks into buffers it reuses
// rather than a new MiB per chunk for the garbage collector.
type bufferedHolder interface {
	GetInto(c ChunkID, buf []byte) ([]byte, error)
}

// chunkBufs holds ChunkSize buffers for answers being written: one per
// Get being answered, so at most as many as streams being served.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// Server answers the requests of the streams it is given, from Holder.
// Its fields are set before the first Serve and not changed after.
type Server struct {
	Holder   Holder
	Pacer    *Pacer         // bounds the upload rate; nil: no bound
	Timeouts frame.Timeouts // DefaultServeTimeouts but in tests
	// Sent, if not nil, is called with the size of each chunk's data once
	// it is written (for the node's counters), from Serve's goroutine.
	Sent func(n int)
}

// Serve answers the requests of s until the peer closes its side (Serve
// closes s and returns nil), ctx ends, the stream fails, or the peer
// misbehaves or is too slow (Serve resets s and returns why: an error
// wrapping frame.ErrMalformed or ErrBadBlobMsg is the peer's fault).
// Every goroutine Serve starts has ended when it returns.
//
// A goroutine reads ahead while a request is served, so that the peer
// resetting the stream (a download cancelling a request it no longer
// needs) cancels the request at once: a Get waiting for its turn under
// the upload rate then gives up its place instead of using the upload
// budget. (A peer that closed its side after its request, as Client does,
// is read to its end at once; its reset is then seen at the next write,
// which costs at most one piece of the budget.)
func (srv *Server) Serve(ctx context.Context, s Stream) error {
	c := frame.NewConn(s, maxRequestFrame, srv.Timeouts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reqs := make(chan incoming)
	var rerr error // why the reader stopped, if not the peer's end; written before reqs is closed
	go func() {
		defer close(reqs)
		for {
			m, err := readMsg(c)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					rerr = err
					cancel() // reset, malformed or too slow: stop serving at once
				}
				reqs <- incoming{nil, err} // received by serve, or by the drain below
				return
			}
			select {
			case reqs <- incoming{m, nil}:
			case <-ctx.Done():
				return
			}
		}
	}()
	err := srv.serve(ctx, c, s, reqs)
	cancel()
	if err == nil {
		s.Close() // the peer is done
	} else {
		s.Reset() // ends the reader's read, if it is in one
	}
	for range reqs { // until the reader has ended
	}
	if rerr != nil && errors.Is(err, context.Canceled) {
		err = fmt.Errorf("blob: serve: %w", rerr) // the cause, rather than the cancel it caused
	}
	return err
}

// incoming is a request the reader read, or why it stopped.
type incoming struct {
	m   *BlobMsg
	err error
}

// serve answers the requests from reqs until they end.
func (srv *Server) serve(ctx context.Context, c *frame.Conn, s Stream, reqs <-chan incoming) error {
	for r := range reqs {
		if r.err != nil {
			if errors.Is(r.err, io.EOF) {
				return nil
			}
			return fmt.Errorf("blob: serve: %w", r.err)
		}
		var err error
		switch r.m.Type {
		case BlobMsgWant:
			err = c.WritePaced(srv.have(r.m.Blob).Encode(), maxPiece, nil)
		case BlobMsgGet:
			err = srv.get(ctx, c, s, r.m)
		default: // Have, Chunk and Err are answers, not requests
			err = fmt.Errorf("%w: unexpected message type %d", ErrBadBlobMsg, r.m.Type)
		}
		if err != nil {
			return fmt.Errorf("blob: serve: %w", err)
		}
	}
	return fmt.Errorf("blob: serve: %w", ctx.Err()) // the reader stopped at ctx's end
}

// readMsg reads and decodes one message.
func readMsg(c *frame.Conn) (*BlobMsg, error) {
	b, err := c.ReadFrame()
	if err != nil {
		return nil, err
	}
	return DecodeBlobMsg(b)
}

// have is the answer to a Want for blob id.
func (srv *Server) have(id BlobID) *BlobMsg {
	m, err := srv.Holder.Manifest(id)
	if err != nil {
		return &BlobMsg{Type: BlobMsgHave, Blob: id} // not held
	}
	return &BlobMsg{
		Type: BlobMsgHave, Blob: id,
		Manifest: m.Encode(), Chunks: len(m.Chunks), Have: srv.Holder.Bitmap(m),
	}
}

// get answers a Get with one Chunk per chunk, or an Err at the first
// chunk that is not held. It returns only write errors. Chunks are written
// to s directly (writeChunk), the other messages through c.
func (srv *Server) get(ctx context.Context, c *frame.Conn, s Stream, g *BlobMsg) error {
	fail := func(format string, args ...any) error {
		reason := fmt.Sprintf(format, args...)
		if len(reason) > MaxReasonLen {
			reason = reason[:MaxReasonLen]
		}
		return c.WritePaced((&BlobMsg{Type: BlobMsgErr, Reason: reason}).Encode(), maxPiece, nil)
	}
	m, err := srv.Holder.Manifest(g.Blob)
	if err != nil {
		return fail("blob %s not held", g.Blob)
	}
	if g.Index+g.Count > len(m.Chunks) {
		return fail("chunks %d+%d beyond the %d of blob %s", g.Index, g.Count, len(m.Chunks), g.Blob)
	}
	t := srv.Pacer.Take() // the answer's place in line under the upload rate
	// Each piece waits for its turn under the upload rate (the frame's few
	// bytes besides the data are not counted).
	pace := func(k int) error { return t.Wait(ctx, k) }
	get := srv.Holder.Get
	if h, ok := srv.Holder.(bufferedHolder); ok {
		// One buffer for the whole answer: writeChunk has written a
		// chunk (the stream does not retain it) before the next is read.
		buf := chunkBufs.Get().(*[]byte)
		defer chunkBufs.Put(buf)
		get = func(c ChunkID) ([]byte, error) { return h.GetInto(c, *buf) }
	}
	for i := g.Index; i < g.Index+g.Count; i++ {
		data, err := get(m.Chunks[i])
		if err != nil {
			return fail("chunk %d of blob %s not held", i, g.Blob)
		}
		if err := srv.writeChunk(s, g.Blob, i, data, pace); err != nil {
			return err
		}
		if srv.Sent != nil {
			srv.Sent(len(data))
		}
	}
	return nil
}

// writeChunk writes the frame of a Chunk message as frame.Conn.WritePaced
// would, without copying data into it: the frame's length and the
// message's header (appendChunkHeader) first, then the data in pieces of
// srv.Pacer.Piece(), each after pace allows it and each under a write
// deadline of srv.Timeouts (the wait for the peer to take it up).
func (srv *Server) writeChunk(s Stream, id BlobID, i int, data []byte, pace func(n int) error) error {
	var buf [binary.MaxVarintLen64 + maxChunkHeader]byte
	hdr := appendChunkHeader(buf[binary.MaxVarintLen64:binary.MaxVarintLen64], id, i, len(data))
	head := binary.AppendUvarint(buf[:0], uint64(len(hdr)+len(data)))
	head = append(head, hdr...) // within buf: the header moves left over the unused varint room
	d, _ := s.(frame.Deadliner)
	if d != nil {
		defer d.SetWriteDeadline(time.Time{})
	}
	write := func(p []byte) error {
		if d != nil {
			now := time.Now()
			end := srv.Timeouts.FrameDeadline(now, len(p))
			if idle := srv.Timeouts.Idle; idle > 0 && (end.IsZero() || now.Add(idle).Before(end)) {
				end = now.Add(idle)
			}
			d.SetWriteDeadline(end)
		}
		if _, err := s.Write(p); err != nil {
			var ne interface{ Timeout() bool }
			if d != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
				return fmt.Errorf("%w: %w", frame.ErrTimeout, err)
			}
			return err
		}
		return nil
	}
	if err := write(head); err != nil {
		return err
	}
	piece := srv.Pacer.Piece()
	for len(data) > 0 {
		p := data[:min(len(data), piece)]
		if pace != nil {
			if err := pace(len(p)); err != nil {
				return err
			}
		}
		if err := write(p); err != nil {
			return err
		}
		data = data[len(p):]
	}
	return nil
}
