package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/keys"
)

// ProtocolID names the sync protocol on the wire.
const ProtocolID = "/loam/sync/1"

// Version is the protocol version carried in Hello.
//
// Changelog:
//   - 1 (2026-11-21): Hello, Have, Commits, Want, Bye.
//   - 1 (2026-12-06): same messages; sending rules under which every
//     exchange ends, a Want answered with the wanted commit's chain, and
//     deadlines per frame (issue 10, docs/protocol/sync.md). Peers on the
//     older rules interoperate.
//   - 1 (2026-12-06, issue 11): same messages; a node that closes ends
//     each session with a Bye "closing" and a half-close, and reads on
//     until the peer's end of the stream (docs/protocol/sync.md, "Bye").
//     Peers on the older rules interoperate.
const Version = 1

// Limits of the protocol.
const (
	// MaxFrame bounds one frame: one commit of the largest size plus the
	// message around it.
	MaxFrame = commit.MaxCommitSize + 64<<10
	// BatchBytes is the size a sender fills a Commits frame up to.
	BatchBytes = 1 << 20
	// MaxSpaces bounds the spaces in one Hello.
	MaxSpaces = 4096
	// MaxHeads bounds the heads in one Have.
	MaxHeads = 1 << 16
	// MaxWant bounds the IDs in one Want.
	MaxWant = 1024
)

// Message types.
const (
	msgHello   = 1
	msgHave    = 2
	msgCommits = 3
	msgWant    = 4
	msgBye     = 5
)

// ErrMisbehaving wraps every error that means the peer broke the protocol.
var ErrMisbehaving = errors.New("peer misbehaved")

// Errors of the misbehaviour kinds, each wrapping ErrMisbehaving.
var (
	ErrBadFrame     = fmt.Errorf("%w: bad frame", ErrMisbehaving)
	ErrBadMessage   = fmt.Errorf("%w: malformed message", ErrMisbehaving)
	ErrBadProof     = fmt.Errorf("%w: proof for a space it does not know", ErrMisbehaving)
	ErrBadCommit    = fmt.Errorf("%w: invalid commit", ErrMisbehaving)
	ErrUnauthorized = fmt.Errorf("%w: unauthorized commit", ErrMisbehaving)
	// ErrEquivocation: the peer sent a second commit of its own at a seq
	// where it had signed another (fork evidence against itself).
	ErrEquivocation = fmt.Errorf("%w: it signed two commits with one seq", ErrMisbehaving)
	// ErrOverCut: the peer sent its own commits past its revocation cut or
	// fork beyond what a store keeps (store.MaxOverCut).
	ErrOverCut = fmt.Errorf("%w: its own commits past its cut, over the bound", ErrMisbehaving)
	// ErrBrokenRule: the peer sent a commit of its own that breaks an app
	// rule (#15; acl.ErrSchema) that no declaration of the rules in its
	// causal past allows (acl.Broken). It is stored but does not count.
	ErrBrokenRule = fmt.Errorf("%w: its own commit breaks an app rule", ErrMisbehaving)
	// ErrUngranted: the peer sent more than Config.MaxUngrantedBytes of
	// commits whose causal past is missing and whose authors nothing held
	// here could ever grant anything.
	ErrUngranted = fmt.Errorf("%w: commits from authors without a grant", ErrMisbehaving)
	// ErrStalled: commits the peer sent waited for their causal past for
	// Config.StallTimeout after it was asked for it, with no progress.
	ErrStalled = fmt.Errorf("%w: commits whose causal past it never sent", ErrMisbehaving)
)

// ErrFrameTimeout: a frame took longer to cross than its deadline (see
// DefaultFrameTimeouts). It ends the session but is not misbehaviour: a
// link can be slow. It is frame.ErrTimeout, the framing's own.
var ErrFrameTimeout = frame.ErrTimeout

type wireProof struct {
	_     struct{} `cbor:",toarray"`
	Disc  []byte
	Proof []byte
}

// wireMsg is every message: Type says which fields it carries.
type wireMsg struct {
	Type    uint64      `cbor:"1,keyasint"`
	Version uint64      `cbor:"2,keyasint,omitempty"` // Hello
	Spaces  []wireProof `cbor:"3,keyasint,omitempty"` // Hello
	Disc    []byte      `cbor:"4,keyasint,omitempty"` // Have, Commits, Want
	Heads   []Head      `cbor:"5,keyasint,omitempty"` // Have
	Commits [][]byte    `cbor:"6,keyasint,omitempty"` // Commits
	IDs     [][]byte    `cbor:"7,keyasint,omitempty"` // Want
	Reason  string      `cbor:"8,keyasint,omitempty"` // Bye
}

var (
	encMode = keys.CanonicalCBOR
	decMode = keys.StrictCBOR(keys.CBORLimits{Nesting: 6, ArrayElems: MaxHeads, MapPairs: 16, Closed: true})
)

// Head is one author's latest commit as announced in Have. On the wire it
// is the array [author, seq, ID].
type Head struct {
	_      struct{} `cbor:",toarray"`
	Author keys.AuthorID
	Seq    uint64
	ID     keys.CommitID
}

// SpaceProof is one entry of Hello.
type SpaceProof struct {
	Disc  keys.Digest
	Proof keys.Digest
}

// Msg is a decoded message.
type Msg struct {
	Type    int
	Version uint64
	Spaces  []SpaceProof    // Hello
	Disc    keys.Digest     // Have, Commits, Want
	Heads   []Head          // Have
	Commits [][]byte        // Commits: encoded commits, not yet verified
	IDs     []keys.CommitID // Want
	Reason  string          // Bye
}

// Encode returns the message's canonical CBOR encoding.
func (m *Msg) Encode() []byte {
	b, err := encMode.Marshal(m.wire())
	if err != nil {
		panic(fmt.Sprintf("reconcile: encode: %v", err))
	}
	return b
}

// wire returns the message as it is encoded.
func (m *Msg) wire() wireMsg {
	w := wireMsg{Type: uint64(m.Type), Version: m.Version, Commits: m.Commits, Reason: m.Reason}
	if m.Type == msgHave || m.Type == msgCommits || m.Type == msgWant {
		w.Disc = m.Disc[:]
	}
	for _, s := range m.Spaces {
		w.Spaces = append(w.Spaces, wireProof{Disc: s.Disc[:], Proof: s.Proof[:]})
	}
	w.Heads = m.Heads
	for _, id := range m.IDs {
		w.IDs = append(w.IDs, id[:])
	}
	return w
}

func fixed32(dst *[32]byte, b []byte, what string) error {
	if len(b) != 32 {
		return fmt.Errorf("%w: %s is %d bytes, want 32", ErrBadMessage, what, len(b))
	}
	copy(dst[:], b)
	return nil
}

// DecodeMsg parses a frame's payload strictly.
func DecodeMsg(b []byte) (*Msg, error) {
	var w wireMsg
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	m := &Msg{Type: int(w.Type), Version: w.Version, Commits: w.Commits, Reason: w.Reason}
	needDisc := false
	switch w.Type {
	case msgHello:
		if w.Version == 0 || len(w.Spaces) > MaxSpaces {
			return nil, fmt.Errorf("%w: hello needs a version and at most %d spaces", ErrBadMessage, MaxSpaces)
		}
		m.Spaces = make([]SpaceProof, len(w.Spaces))
		for i, s := range w.Spaces {
			if err := fixed32((*[32]byte)(&m.Spaces[i].Disc), s.Disc, "discovery ID"); err != nil {
				return nil, err
			}
			if err := fixed32((*[32]byte)(&m.Spaces[i].Proof), s.Proof, "proof"); err != nil {
				return nil, err
			}
		}
	case msgHave:
		needDisc = true
		// Byte strings of another length than 32 decode into the
		// arrays too; the canonical check below rejects them.
		for i, h := range w.Heads {
			if h.Seq == 0 {
				return nil, fmt.Errorf("%w: head with seq 0", ErrBadMessage)
			}
			if i > 0 && bytes.Compare(w.Heads[i-1].Author[:], h.Author[:]) >= 0 {
				return nil, fmt.Errorf("%w: heads not in author order", ErrBadMessage)
			}
		}
		m.Heads = w.Heads
	case msgCommits:
		needDisc = true
		if len(w.Commits) == 0 {
			return nil, fmt.Errorf("%w: empty commits message", ErrBadMessage)
		}
	case msgWant:
		needDisc = true
		if len(w.IDs) == 0 || len(w.IDs) > MaxWant {
			return nil, fmt.Errorf("%w: want needs 1..%d IDs", ErrBadMessage, MaxWant)
		}
		m.IDs = make([]keys.CommitID, len(w.IDs))
		for i, id := range w.IDs {
			if err := fixed32((*[32]byte)(&m.IDs[i]), id, "wanted ID"); err != nil {
				return nil, err
			}
		}
	case msgBye:
	default:
		return nil, fmt.Errorf("%w: unknown message type %d", ErrBadMessage, w.Type)
	}
	if needDisc {
		if err := fixed32((*[32]byte)(&m.Disc), w.Disc, "discovery ID"); err != nil {
			return nil, err
		}
	} else if w.Disc != nil {
		return nil, fmt.Errorf("%w: unexpected discovery ID", ErrBadMessage)
	}
	// One message, one encoding: fields of other types, zero values written
	// out and non-minimal heads are all rejected by re-encoding (compared as
	// it is written: a largest Have is not copied again).
	cmp := compareWriter{want: b}
	if err := encMode.NewEncoder(&cmp).Encode(m.wire()); err != nil || cmp.diff || len(cmp.want) > 0 {
		return nil, fmt.Errorf("%w: not in canonical form", ErrBadMessage)
	}
	return m, nil
}

// compareWriter checks that what is written to it is want, in order.
type compareWriter struct {
	want []byte
	diff bool
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if c.diff || len(p) > len(c.want) || !bytes.Equal(p, c.want[:len(p)]) {
		c.diff = true
		return len(p), nil
	}
	c.want = c.want[len(p):]
	return len(p), nil
}

// Conn moves frames between two peers. ReadFrame is called by one
// goroutine and WriteFrame by another; Close may be called from any and
// must make both return.
type Conn interface {
	ReadFrame() ([]byte, error)
	WriteFrame([]byte) error
	Close() error
}

// DefaultFrameTimeouts bound the frames of a sync stream once they
// started: a 1 MiB frame has 94 s, a largest frame 4.6 min. Waiting for a
// frame to start has no bound, so an idle session costs nothing and is
// never dropped (the transport's keepalive finds dead connections).
var DefaultFrameTimeouts = frame.Timeouts{Grace: 30 * time.Second, MinRate: 16 << 10}

// StreamConn is a Conn over a byte stream, framed by package frame with
// MaxFrame as the limit. If the stream has deadlines (frame.Deadliner),
// every frame has one once it started: a peer that stops reading, or
// trickles a frame, is cut off (ErrFrameTimeout), and a bad frame length
// is misbehaviour (ErrBadFrame).
type StreamConn struct {
	f *frame.Conn
	c io.Closer
}

// NewStreamConn frames rw with DefaultFrameTimeouts; closing the Conn
// closes c.
func NewStreamConn(rw io.ReadWriter, c io.Closer) *StreamConn {
	return NewStreamConnTimeouts(rw, c, DefaultFrameTimeouts)
}

// NewStreamConnTimeouts frames rw with the given frame timeouts.
func NewStreamConnTimeouts(rw io.ReadWriter, c io.Closer, to frame.Timeouts) *StreamConn {
	return &StreamConn{f: frame.NewConn(rw, MaxFrame, to), c: c}
}

// ReadFrame reads one frame. It waits for the frame's first byte without a
// deadline, then for the rest with one. The stream's end or failure is not
// misbehaviour: io.EOF between frames, the transport's error otherwise.
func (s *StreamConn) ReadFrame() ([]byte, error) {
	b, err := s.f.ReadFrame()
	if errors.Is(err, frame.ErrMalformed) {
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return b, err
}

// WriteFrame writes one frame, within its deadline.
func (s *StreamConn) WriteFrame(b []byte) error { return s.f.WriteFrame(b) }

// Close ends the underlying stream at once, both ways: a Reset where the
// stream has one, else Close. A Session closes its Conn only to abort (a
// graceful end half-closes first, see Session.End), and a QUIC stream's
// Close does not wake a Write blocked on the peer's flow-control window: a
// daemon over a lossy link hung in Close on such a write (TestLossySlowLinks,
// "did not stop on SIGTERM"). A Reset does.
func (s *StreamConn) Close() error {
	if r, ok := s.c.(interface{ Reset() error }); ok {
		return r.Reset()
	}
	return s.c.Close()
}

// CloseWrite ends the write side of the underlying stream, if it can
// (CloseWrite() error), and keeps reading possible: the peer reads every
// frame written before, then io.EOF. Otherwise it does nothing.
func (s *StreamConn) CloseWrite() error {
	if hc, ok := s.c.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return nil
}
