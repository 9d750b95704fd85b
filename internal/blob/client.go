package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/frame"
)

// Client is a Source over /loam/blob/1 to one peer. Each call takes a
// stream of its own for its one request and answer: an idle stream left
// by an earlier call, or a new one. Fetch calls a source concurrently (up
// to FetchOptions.PerSource calls in flight) and each call must be
// cancelable on its own: resetting its stream cancels exactly that call,
// and a reset stream is not used again.
//
// Streams are kept between calls because a new stream starts with the
// muxer's smallest flow-control window (256 KiB for yamux), so a 1 MiB
// chunk on a fresh stream waits for several window updates; a stream that
// carried earlier chunks has a grown window and the chunk flows at the
// connection's speed. At most maxIdleStreams are kept, each for at most
// maxIdleAge (well within the server's two minutes of patience for the
// next request); Close closes them. A Client must not be copied after
// first use.
//
// An error that wraps ErrBadBlobMsg or frame.ErrMalformed is the peer's
// fault (its answer broke the protocol); one that wraps frame.ErrTimeout
// means it stopped answering.
type Client struct {
	// Name names the peer in errors and in Fetch's Stats (Source.Peer).
	Name string
	// Open opens a new stream of the blob protocol to the peer.
	Open func(ctx context.Context) (Stream, error)
	// Timeout bounds each wait for the peer (DefaultRequestTimeout but
	// in tests; see it).
	Timeout time.Duration

	mu     sync.Mutex
	idle   []*clientStream // streams between requests, oldest first; guarded by mu
	closed bool            // Close was called: no stream is kept; guarded by mu
}

// Limits of the streams a Client keeps between requests.
const (
	maxIdleStreams = 2 * DefaultPerSource
	maxIdleAge     = 30 * time.Second
)

// clientStream is a stream kept between requests, with its framing (whose
// buffer may hold bytes read ahead, so the two stay together).
type clientStream struct {
	s     Stream
	fc    *frame.Conn
	since time.Time // when it went idle
}

// Peer returns c.Name.
func (c *Client) Peer() string { return c.Name }

// Close closes the streams kept idle; a call in flight closes its stream
// when it ends. The Client may still be used: later calls open streams
// of their own and close them when done.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.closeIdle()
	return nil
}

// closeIdle closes the streams kept idle.
func (c *Client) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, cs := range idle {
		cs.s.Close()
	}
}

// take returns an idle stream (reused), or opens a new one within
// c.Timeout.
func (c *Client) take(ctx context.Context) (cs *clientStream, reused bool, err error) {
	now := time.Now()
	c.mu.Lock()
	var stale []*clientStream
	for len(c.idle) > 0 && now.Sub(c.idle[0].since) > maxIdleAge {
		stale = append(stale, c.idle[0])
		c.idle = c.idle[1:]
	}
	if n := len(c.idle); n > 0 {
		cs, c.idle = c.idle[n-1], c.idle[:n-1] // the most recent: its window is the warmest
	}
	c.mu.Unlock()
	for _, x := range stale {
		x.s.Close()
	}
	if cs != nil {
		return cs, true, nil
	}
	octx, cancel := context.WithTimeout(ctx, c.Timeout)
	s, err := c.Open(octx)
	cancel()
	if err != nil {
		return nil, false, err
	}
	return &clientStream{s: s, fc: frame.NewConn(s, MaxBlobFrame, frame.Timeouts{Idle: c.Timeout})}, false, nil
}

// put keeps cs for a later call, or closes it if c keeps enough.
func (c *Client) put(cs *clientStream) {
	cs.since = time.Now()
	c.mu.Lock()
	keep := !c.closed && len(c.idle) < maxIdleStreams
	if keep {
		c.idle = append(c.idle, cs)
	}
	c.mu.Unlock()
	if !keep {
		cs.s.Close()
	}
}

// exchange sends req on a stream of its own and returns the one answer.
// Opening a stream and writing the request must each take under
// c.Timeout, and so must the wait for each byte of the answer; the answer
// as a whole may take longer (a throttled seeder sends it slowly). The
// stream is kept for later calls only if the exchange went as the
// protocol says: the answer is well formed and check accepts it.
//
// read reads the answer (readMsg but for a Get's, readChunk). If the
// answer is dropped after it was read (check refuses it, or ctx ended),
// its Data is given back with putDataBuf.
func (c *Client) exchange(ctx context.Context, req *BlobMsg, read func(*frame.Conn) (*BlobMsg, error), check func(*BlobMsg) error) (*BlobMsg, error) {
	cs, reused, err := c.take(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.exchangeOn(ctx, cs, req, read, check)
	if err != nil && reused && retryable(ctx, err) {
		// A kept stream that failed without the peer breaking the protocol
		// or going silent most likely died with its connection, and so
		// did the other kept streams: ask again on a new stream, once.
		c.closeIdle()
		if cs, _, err = c.take(ctx); err != nil {
			return nil, err
		}
		resp, err = c.exchangeOn(ctx, cs, req, read, check)
	}
	return resp, err
}

// retryable reports whether a request that failed with err on a kept
// stream may be asked again on a new one: not if ctx ended, the peer broke
// the protocol, or it stopped answering (a retry would double the wait).
func retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !errors.Is(err, ErrBadBlobMsg) &&
		!errors.Is(err, frame.ErrMalformed) && !errors.Is(err, frame.ErrTimeout)
}

// exchangeOn is one exchange on cs, which it then keeps (put) or resets.
func (c *Client) exchangeOn(ctx context.Context, cs *clientStream, req *BlobMsg, read func(*frame.Conn) (*BlobMsg, error), check func(*BlobMsg) error) (*BlobMsg, error) {
	stop := context.AfterFunc(ctx, func() { cs.s.Reset() })
	if err := cs.fc.WriteFrame(req.Encode()); err != nil {
		stop()
		cs.s.Reset()
		return nil, fmt.Errorf("blob: request to %s: %w", c.Name, ctxErr(ctx, err))
	}
	resp, err := read(cs.fc)
	if err == nil {
		err = check(resp)
	}
	if !stop() || err != nil {
		if resp != nil {
			putDataBuf(resp.Data)
		}
		cs.s.Reset() // canceled meanwhile (it is reset already), or broken
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("blob: answer from %s: %w", c.Name, ctxErr(ctx, err))
	}
	c.put(cs)
	return resp, nil
}

// ctxErr prefers ctx's error to the stream error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Have implements Source: it asks the peer for blob id's manifest and
// which of its chunks it holds.
func (c *Client) Have(ctx context.Context, id BlobID) ([]byte, Bitmap, error) {
	resp, err := c.exchange(ctx, &BlobMsg{Type: BlobMsgWant, Blob: id}, readMsg, func(resp *BlobMsg) error {
		if resp.Type != BlobMsgHave || resp.Blob != id {
			return fmt.Errorf("%w: answer to want is type %d for %s", ErrBadBlobMsg, resp.Type, resp.Blob.Short())
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return resp.Manifest, resp.Have, nil
}

// Get implements Source: it asks the peer for chunk index of blob id. The
// data is in a buffer of the Client's, aligned for a direct write, which
// the caller may give back with Recycle once done with it.
func (c *Client) Get(ctx context.Context, id BlobID, index int) ([]byte, error) {
	read := func(fc *frame.Conn) (*BlobMsg, error) { return readChunk(fc, index) }
	resp, err := c.exchange(ctx, &BlobMsg{Type: BlobMsgGet, Blob: id, Index: index, Count: 1}, read, func(resp *BlobMsg) error {
		if resp.Type != BlobMsgErr && (resp.Type != BlobMsgChunk || resp.Blob != id || resp.Index != index) {
			return fmt.Errorf("%w: answer to get of chunk %d is type %d, chunk %d", ErrBadBlobMsg, index, resp.Type, resp.Index)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case resp.Type == BlobMsgErr:
		return nil, fmt.Errorf("blob: %s: %s: %w", c.Name, resp.Reason, ErrNotFound)
	}
	return resp.Data, nil
}

// Recycle implements Recycler: Get reads later chunks into the buffer of
// data, which Get returned, and which the caller must not use afterwards.
func (c *Client) Recycle(data []byte) { putDataBuf(data) }

// readChunk reads the answer to a Get of chunk index: a Chunk's header
// into a small buffer and its data into one of dataBufs, at its start, so
// that the data is aligned for a direct write and its buffer is reused
// (see Recycle). Any other answer, or a frame of a length no Chunk of
// index has, is read and decoded as readMsg does.
func readChunk(fc *frame.Conn, index int) (*BlobMsg, error) {
	var hdr [maxChunkHeader]byte
	var data []byte // from dataBufs, if taken
	head, body, err := fc.ReadFrameInto(func(n int) ([]byte, []byte) {
		h := chunkHeaderLen(index, n)
		if h < 0 {
			return nil, nil
		}
		data = getDataBuf()[:n-h]
		return hdr[:h], data
	})
	switch {
	case err != nil:
		putDataBuf(data)
		return nil, err
	case body == nil:
		putDataBuf(data)
		return DecodeBlobMsg(head)
	}
	if m, ok := decodeChunkSplit(head, body); ok {
		return m, nil
	}
	// Not a Chunk after all (or not a canonical one): the generic
	// decoder says what it is, from the frame joined.
	b := append(bytes.Clone(head), body...)
	putDataBuf(data)
	return DecodeBlobMsg(b)
}
