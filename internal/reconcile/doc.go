// Package reconcile is Loam's sync logic as a transport-free state machine:
// a Session runs the /loam/sync/1 protocol with one peer over any Conn that
// moves frames, and the layers above only move bytes (internal/p2p) and wire
// sessions to the store (internal/node).
//
// # Protocol
//
// Both sides send Hello first: the protocol version and, per space they
// want to sync, its discovery ID and a proof of knowing the space ID bound
// to both peers (keys.SyncProof), so a peer learns nothing about spaces it
// does not already hold and a proof cannot be replayed to another peer.
// Spaces both sides proved become shared. For each, each side sends Have:
// its heads (author → seq, head ID). On a Have, the other side streams
// Commits the peer lacks, per author in seq order, all authors merged in
// time order (a causal order for honest writers), in frames of at most
// BatchBytes. The receiver verifies every commit of a frame before storing
// any; commits whose causal past is missing wait, bounded in bytes per
// session and per space (Budget), and the receiver asks for what they miss
// with Want, answered with the wanted commit and its chain. After catch-up
// the stream stays open: when the node stores new commits (written locally
// or received from any peer) it calls Notify, and the session sends what
// the peer lacks. What a peer has is tracked per author (its last Have,
// raised by what it sent and what it was sent), so a commit is never sent
// back to where it came from: that is the flood's dedupe. Nothing polls: an
// idle session blocks in Read and on its wake channel; a timer runs only
// while commits are held. Fork evidence travels as commits: a peer that
// receives the second of two commits with one seq stores the pair as
// evidence.
//
// # Termination
//
// Sync ends on any set of stored commits, counting or not: a commit is sent
// to a peer at most once per change of the peer's store (an unchanged Have
// changes nothing of what is sent), fork evidence once per author and
// session, a Want once per missing ID and progress, and stores only grow,
// by at most store.MaxOverCut commits of an author past its cut. See
// docs/design.md, "Sync under attack (#10)".
//
// # Misbehaviour
//
// A peer that sends a bad signature, an unauthorized commit, an oversized
// frame, malformed CBOR, a proof for a space it does not know, a fork of
// its own commits, its own commits past its cut beyond the bound, too many
// commits whose authors nothing grants, or commits whose causal past it
// never sends is misbehaving: Run returns an error wrapping ErrMisbehaving
// and the node disconnects and backs it off. A frame that takes too long to
// cross ends the session without blame (ErrFrameTimeout).
package reconcile
