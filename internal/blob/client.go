package blob

import (
	"context"
	"fmt"
	"time"

	"github.com/loamdb/loam/internal/frame"
)

// Client is a Source over /loam/blob/1 to one peer. Each call opens its
// own stream: a Want for each Have, a Get of a single chunk for each Get.
// That is the simplest correct mapping of the Source interface onto
// streams, since Fetch calls a source concurrently (up to
// FetchOptions.PerSource calls in flight) and each call must be
// cancelable on its own: resetting its stream cancels exactly that call.
// The cost is one stream negotiation (a multistream round trip on the
// existing connection) per 1 MiB chunk, and no batching of Gets into runs
// of up to MaxGetCount chunks. A long-lived stream per source with
// pipelined, batched Gets would remove both; it needs request matching
// and cancellation inside the stream, and is left for later.
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
}

// Peer returns c.Name.
func (c Client) Peer() string { return c.Name }

// exchange sends req on a new stream and returns the one answer. Opening
// the stream and writing the request must each take under c.Timeout, and
// so must the wait for each byte of the answer; the answer as a whole may
// take longer (a throttled seeder sends it slowly).
func (c Client) exchange(ctx context.Context, req *BlobMsg) (*BlobMsg, error) {
	octx, cancel := context.WithTimeout(ctx, c.Timeout)
	s, err := c.Open(octx)
	cancel()
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	fc := frame.NewConn(s, MaxBlobFrame, frame.Timeouts{Idle: c.Timeout})
	if err := fc.WriteFrame(req.Encode()); err != nil {
		s.Reset()
		return nil, fmt.Errorf("blob: request to %s: %w", c.Name, ctxErr(ctx, err))
	}
	s.CloseWrite() // one request per stream: the server sees EOF after it
	resp, err := readMsg(fc)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("blob: answer from %s: %w", c.Name, ctxErr(ctx, err))
	}
	s.Close()
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
func (c Client) Have(ctx context.Context, id BlobID) ([]byte, Bitmap, error) {
	resp, err := c.exchange(ctx, &BlobMsg{Type: BlobMsgWant, Blob: id})
	if err == nil && (resp.Type != BlobMsgHave || resp.Blob != id) {
		err = fmt.Errorf("%w: answer to want is type %d for %s", ErrBadBlobMsg, resp.Type, resp.Blob.Short())
	}
	if err != nil {
		return nil, nil, err
	}
	return resp.Manifest, resp.Have, nil
}

// Get implements Source: it asks the peer for chunk index of blob id.
func (c Client) Get(ctx context.Context, id BlobID, index int) ([]byte, error) {
	resp, err := c.exchange(ctx, &BlobMsg{Type: BlobMsgGet, Blob: id, Index: index, Count: 1})
	switch {
	case err != nil:
		return nil, err
	case resp.Type == BlobMsgErr:
		return nil, fmt.Errorf("blob: %s: %s: %w", c.Name, resp.Reason, ErrNotFound)
	case resp.Type != BlobMsgChunk || resp.Blob != id || resp.Index != index:
		return nil, fmt.Errorf("%w: answer to get of chunk %d is type %d, chunk %d", ErrBadBlobMsg, index, resp.Type, resp.Index)
	}
	return resp.Data, nil
}
