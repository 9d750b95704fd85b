// Package frame reads and writes the frames of Loam's stream protocols,
// /loam/sync/1 and /loam/blob/1 (docs/protocol/sync.md and blob.md): one
// codec, with one set of limits, deadlines and errors, for both.
//
// A frame is an unsigned LEB128 varint length in its shortest form,
// followed by that many bytes (one message). The length is at least 1 and
// at most the reader's limit: the protocol's largest message.
//
// # Reading untrusted frames
//
// A reader checks the length as its bytes arrive: a length over the limit,
// not in its shortest form, or zero is rejected before any of the frame is
// read (ErrMalformed, the peer's fault). The frame's buffer grows as its
// bytes arrive (up to 1 MiB + 64 KiB is allocated at once), so a peer that
// announces a large frame and sends a byte costs little more than a byte.
//
// # Deadlines
//
// On a stream that has deadlines (a Deadliner, as p2p.Stream is), Timeouts
// bound every wait for the peer:
//
//   - Idle bounds each wait for the peer to make progress: for a frame's
//     first byte, for each further read inside it, and for each write to
//     be taken up. Zero: no bound (a sync session waits for its next
//     frame forever; the transport's keepalive finds dead connections).
//   - Grace plus the frame's size at MinRate bounds a whole frame once its
//     first byte has arrived, and a frame (or a piece of one) being
//     written. Both zero: no bound on the whole (a blob client waits for a
//     throttled seeder's answer as long as it keeps coming).
//
// A deadline that passes fails the call with ErrTimeout, which is not the
// peer's fault: a link can be slow. The stream's end before a frame's first
// byte is io.EOF, and inside a frame io.ErrUnexpectedEOF; any other
// failure of the stream (a reset) is returned as it is, wrapped.
package frame
