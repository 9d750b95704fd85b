package p2p

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/loamdb/loam/internal/keys"
)

// Stream is one bidirectional, ordered, flow-controlled byte stream with a
// peer, speaking one protocol. Read and Write may be called concurrently
// with each other, but neither with itself. The owner must end the stream
// with Close or Reset, even after CloseWrite or an error.
type Stream interface {
	io.Reader
	io.Writer
	// Close closes both directions without waiting for the peer: to be
	// sure the peer read everything, CloseWrite, read until io.EOF, then
	// Close.
	io.Closer
	// CloseWrite tells the peer no more data will come (its reads return
	// io.EOF) and keeps the stream open for reading.
	CloseWrite() error
	// Reset aborts both directions; the peer's reads and writes fail.
	Reset() error
	// Peer returns the author ID of the peer at the other end.
	Peer() keys.AuthorID
	// SetDeadline sets the read and write deadline; the zero time clears it.
	SetDeadline(time.Time) error
	// SetReadDeadline and SetWriteDeadline set one direction's deadline
	// (the zero time clears it): a Read or Write blocked past it fails.
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// stream wraps a network.Stream and counts its payload bytes into the
// peer's stats. It does not embed the network.Stream, so libp2p types do not
// leak through type assertions.
type stream struct {
	ns    network.Stream
	peer  keys.AuthorID
	stats *peerStats
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.ns.Read(p)
	if n > 0 {
		s.stats.bytesIn.Add(uint64(n))
		s.stats.touch()
	}
	return n, err
}

func (s *stream) Write(p []byte) (int, error) {
	n, err := s.ns.Write(p)
	if n > 0 {
		s.stats.bytesOut.Add(uint64(n))
		s.stats.touch()
	}
	return n, err
}

func (s *stream) Close() error                       { return s.ns.Close() }
func (s *stream) CloseWrite() error                  { return s.ns.CloseWrite() }
func (s *stream) Reset() error                       { return s.ns.Reset() }
func (s *stream) SetDeadline(t time.Time) error      { return s.ns.SetDeadline(t) }
func (s *stream) SetReadDeadline(t time.Time) error  { return s.ns.SetReadDeadline(t) }
func (s *stream) SetWriteDeadline(t time.Time) error { return s.ns.SetWriteDeadline(t) }
func (s *stream) Peer() keys.AuthorID                { return s.peer }

// wrap returns s as a Stream, or an error if its peer has no author ID
// (the gater refuses such peers, so it should not happen).
func (h *Host) wrap(s network.Stream) (*stream, error) {
	p := s.Conn().RemotePeer()
	a, err := authorOf(p)
	if err != nil {
		return nil, err
	}
	st := h.peers.get(p, a)
	st.touch()
	return &stream{ns: s, peer: a, stats: st}, nil
}

// Handle registers fn to serve streams of protocol proto (e.g.
// "/loam/sync/1"), replacing any previous handler for it. fn runs on its own
// goroutine for each incoming stream and owns the stream: it must Close or
// Reset it, and return once the stream fails (Close resets every stream and
// waits for handlers to return).
func (h *Host) Handle(proto string, fn func(Stream)) {
	h.h.SetStreamHandler(protocol.ID(proto), func(ns network.Stream) {
		if !h.enter() {
			ns.Reset()
			return
		}
		defer h.running.Done()
		s, err := h.wrap(ns)
		if err != nil {
			ns.Reset()
			return
		}
		fn(s)
	})
}

// Open opens a stream to peer for protocol proto, connecting first if
// needed (to addresses the Host already knows for peer). The stream goes
// over a direct connection, or over a relayed one once UseRelay allowed
// it. The caller owns the stream.
func (h *Host) Open(ctx context.Context, peer keys.AuthorID, proto string) (Stream, error) {
	id := peerIDOf(peer)
	if h.relayOK(id) {
		ctx = network.WithAllowLimitedConn(ctx, "loam: sync through a relay")
	}
	ns, err := h.h.NewStream(ctx, id, protocol.ID(proto))
	if err != nil {
		return nil, fmt.Errorf("p2p: open %s to %s: %w", proto, peer.Short(), err)
	}
	s, err := h.wrap(ns)
	if err != nil {
		ns.Reset()
		return nil, fmt.Errorf("p2p: open %s to %s: %w", proto, peer.Short(), err)
	}
	return s, nil
}
