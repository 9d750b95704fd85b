package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/keys"
)

// SnapTimeouts bound a snapshot stream's waits, on both sides: two
// minutes for a request or an answer to start, and each frame 20 s plus
// its size at 8 KiB/s once started (a peer that trickles or stops reading
// is dropped).
var SnapTimeouts = frame.Timeouts{Idle: 2 * time.Minute, Grace: 20 * time.Second, MinRate: 8 << 10}

// maxSnapRequest bounds a request frame a server reads: an Offer or a
// Section is under 200 bytes.
const maxSnapRequest = 1 << 10

// SnapOffer is a checkpoint a server offers: C's bytes, the verdicts
// naming it, and the size of each part of its snapshot.
type SnapOffer struct {
	ID       keys.CommitID
	Commit   []byte
	Verdicts [][]byte
	Sizes    [SnapParts]uint64
}

// SnapSource is what a snapshot server serves from (the node). Its
// methods are called from Serve's goroutine.
type SnapSource interface {
	// SnapSpace returns the held space whose discovery ID is disc.
	SnapSpace(disc keys.Digest) (keys.SpaceID, bool)
	// SnapOffer returns the checkpoint of sp the node offers, ok false
	// if none (a private space, no checkpoint made or checked here).
	SnapOffer(ctx context.Context, sp keys.SpaceID) (o SnapOffer, ok bool, err error)
	// SnapPart opens part (SnapKept…SnapACL) of the snapshot of
	// checkpoint c of sp, ErrNoSnapshot if the node does not serve it.
	SnapPart(ctx context.Context, sp keys.SpaceID, c keys.CommitID, part int) (io.ReadCloser, int64, error)
}

// ErrNoSnapshot: the snapshot asked for is not served here.
var ErrNoSnapshot = errors.New("reconcile: snapshot not served here")

// ServeSnapshot answers the requests of a snapshot stream from src until
// the peer closes its side (it returns nil), ctx ends, the stream fails,
// or the peer misbehaves (the error wraps ErrMisbehaving: a bad proof, a
// malformed message). self is this node, peer the other end. The caller
// owns the stream and closes it.
func ServeSnapshot(ctx context.Context, rw io.ReadWriter, self, peer keys.AuthorID, src SnapSource, to frame.Timeouts) error {
	c := frame.NewConn(rw, maxSnapRequest, to)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := c.ReadFrame()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, frame.ErrMalformed) {
			return fmt.Errorf("%w: %w", ErrBadFrame, err)
		}
		if err != nil {
			return err
		}
		m, err := DecodeSnapMsg(b)
		if err != nil {
			return err
		}
		if m.Type != SnapMsgOffer && m.Type != SnapMsgSection {
			return badSnap("a server got message type %d", m.Type)
		}
		sp, ok := src.SnapSpace(m.Disc)
		if !ok {
			// A space not held: say nothing of it.
			if err := c.WriteFrame((&SnapMsg{Type: SnapMsgNone}).Encode()); err != nil {
				return err
			}
			continue
		}
		if m.Proof != keys.SyncProof(sp, peer, self) {
			return fmt.Errorf("%w (%s, snapshot)", ErrBadProof, sp)
		}
		if m.Type == SnapMsgOffer {
			o, ok, err := src.SnapOffer(ctx, sp)
			if err != nil {
				return err
			}
			ans := &SnapMsg{Type: SnapMsgNone}
			if ok {
				ans = &SnapMsg{Type: SnapMsgOffered, Commit: o.Commit, Verdicts: o.Verdicts, Sizes: o.Sizes}
			}
			if err := c.WriteFrame(ans.Encode()); err != nil {
				return err
			}
			continue
		}
		if err := servePart(ctx, c, src, sp, m); err != nil {
			return err
		}
	}
}

// servePart answers a Section request: the part's bytes from the offset
// to its end, in Data messages, or an Err.
func servePart(ctx context.Context, c *frame.Conn, src SnapSource, sp keys.SpaceID, m *SnapMsg) error {
	r, size, err := src.SnapPart(ctx, sp, m.ID, m.Part)
	if errors.Is(err, ErrNoSnapshot) {
		return c.WriteFrame((&SnapMsg{Type: SnapMsgErr, Reason: "that checkpoint's snapshot is not served here"}).Encode())
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if m.Offset > uint64(size) || size > 0 && m.Offset == uint64(size) {
		return c.WriteFrame((&SnapMsg{Type: SnapMsgErr, Reason: fmt.Sprintf("offset %d is past the part's %d bytes", m.Offset, size)}).Encode())
	}
	if _, err := io.CopyN(io.Discard, r, int64(m.Offset)); err != nil {
		return fmt.Errorf("reconcile: snapshot part %d: %w", m.Part, err)
	}
	buf := make([]byte, MaxSnapData)
	for left := size - int64(m.Offset); left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(r, buf[:min(left, MaxSnapData)])
		if err != nil {
			return fmt.Errorf("reconcile: snapshot part %d: %w", m.Part, err)
		}
		if err := c.WriteFrame((&SnapMsg{Type: SnapMsgData, Data: buf[:n]}).Encode()); err != nil {
			return err
		}
		left -= int64(n)
	}
	return nil
}

// SnapClient asks one peer for a space's snapshot over one stream. Its
// methods are called from one goroutine, one at a time.
type SnapClient struct {
	c          *frame.Conn
	self, peer keys.AuthorID
}

// NewSnapClient speaks the snapshot protocol on rw to peer, as self.
func NewSnapClient(rw io.ReadWriter, self, peer keys.AuthorID, to frame.Timeouts) *SnapClient {
	return &SnapClient{c: frame.NewConn(rw, MaxSnapFrame, to), self: self, peer: peer}
}

func (sc *SnapClient) read() (*SnapMsg, error) {
	b, err := sc.c.ReadFrame()
	if errors.Is(err, frame.ErrMalformed) {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	if err != nil {
		return nil, err
	}
	return DecodeSnapMsg(b)
}

// Offer asks for the peer's checkpoint of sp: ok false if it offers none.
// The offer's commits are not verified.
func (sc *SnapClient) Offer(sp keys.SpaceID) (o SnapOffer, ok bool, err error) {
	req := &SnapMsg{Type: SnapMsgOffer, Disc: keys.DiscoveryID(sp), Proof: keys.SyncProof(sp, sc.self, sc.peer)}
	if err := sc.c.WriteFrame(req.Encode()); err != nil {
		return o, false, err
	}
	m, err := sc.read()
	if err != nil {
		return o, false, err
	}
	switch m.Type {
	case SnapMsgNone:
		return o, false, nil
	case SnapMsgOffered:
		return SnapOffer{Commit: m.Commit, Verdicts: m.Verdicts, Sizes: m.Sizes}, true, nil
	case SnapMsgErr:
		return o, false, fmt.Errorf("reconcile: snapshot offer: the peer says: %s", m.Reason)
	}
	return o, false, badSnap("an answer to Offer of type %d", m.Type)
}

// errSnapRefused: the peer answered a Section with Err (it does not serve
// that snapshot); not misbehaviour.
var errSnapRefused = errors.New("reconcile: the peer does not serve that snapshot")

// Fetch asks for part of checkpoint c's snapshot of sp from offset, the
// part being size bytes, and writes what arrives to w as it arrives. It
// returns the bytes written; after an error, a new Fetch can resume at
// offset plus them (from this or another peer). More bytes than the part
// has is misbehaviour.
func (sc *SnapClient) Fetch(sp keys.SpaceID, c keys.CommitID, part int, offset, size uint64, w io.Writer) (uint64, error) {
	if offset >= size {
		return 0, nil
	}
	req := &SnapMsg{Type: SnapMsgSection, Disc: keys.DiscoveryID(sp), Proof: keys.SyncProof(sp, sc.self, sc.peer), ID: c, Part: part, Offset: offset}
	if err := sc.c.WriteFrame(req.Encode()); err != nil {
		return 0, err
	}
	var got uint64
	for offset+got < size {
		m, err := sc.read()
		if err != nil {
			return got, err
		}
		switch m.Type {
		case SnapMsgData:
		case SnapMsgErr:
			return got, fmt.Errorf("%w: %s", errSnapRefused, m.Reason)
		default:
			return got, badSnap("an answer to Section of type %d", m.Type)
		}
		if uint64(len(m.Data)) > size-offset-got {
			return got, badSnap("part %d has more than the %d bytes offered", part, size)
		}
		if _, err := w.Write(m.Data); err != nil {
			return got, err
		}
		got += uint64(len(m.Data))
	}
	return got, nil
}
