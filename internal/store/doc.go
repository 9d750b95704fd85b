// Package store keeps spaces durably in Pebble: the commits of every author
// as the exact bytes received, per-author heads, fork evidence, and the
// materialized view with its incremental hash.
//
// All writes go through one applier goroutine owned by the Store. It takes
// every request waiting in its queue, validates and applies them into one
// Pebble batch, and commits that batch with a single fsync before answering
// any of them (group commit). A write is acknowledged only when its commit
// and the view update it causes are durable together, so a crash at any
// moment loses no acknowledged write and leaves nothing to repair.
//
// # Authorization
//
// A commit is stored only if it is grounded: the grants of the stored
// commits in its causal past allow it (acl.State.Check). Whether it then
// counts is acl.Evaluate over all stored commits: revocation cuts and
// invite use counts can void commits held before. The applier decides a
// commit that neither revokes nor joins through an invite at once (that is
// exact), and after a batch that stored one that does, or a fork, decides
// the whole space again (rebuild.go) and rebuilds the view if the set of
// commits that count changed. Commits that do not count are kept (Status
// Revoked: their senders are honest, and other commits may depend on them)
// but not in the view, and not sent by sync unasked.
//
// Commit bodies are kept out of Pebble, in an append-only log of segment
// files (package bodylog, <dir>/bodies): Pebble's rows name their places
// (bodies.go), and segments holding erased or mostly dead records are
// reclaimed (reclaim.go).
//
// Reads (Get, Range, Heads, Commits, …) go to a Pebble snapshot the
// applier takes after each batch it committed is durable, so they never see
// what a power loss could take back (readstate.go).
//
// # A full disk
//
// The store keeps free space for Pebble's own writes and refuses a write
// that would take it (ErrDiskFull); an emergency reserve file absorbs a
// disk filled by another program; a store with no room to open read-write
// opens read-only until there is (disk.go, docs/design.md "Faults (#10)").
//
// # Key layout
//
// Every row key starts with a one-byte table tag, then the 32-byte space ID
// (except the name index), then the row's own key:
//
//	0x01 space                      → space metadata (JSON)
//	0x02 name                       → space ID (local name index)
//	0x03 segment(4 BE)              → a body log segment's dead bytes (8 BE) ‖
//	                                  erased (1): 1 if one held an erased payload
//	0x10 space author seq(8 BE)     → commit ID (32) ‖ 0x00 ‖ place (12) of the
//	                                  record (row key ‖ encoded commit) in the body
//	                                  log (bodies.go); written before: commit ID ‖
//	                                  encoded commit
//	0x11 space commitID             → author (32) ‖ seq (8 BE)
//	0x12 space author               → head: seq (8) ‖ ID (32) ‖ wall (8) ‖ logical (4)
//	0x13 space author seq(8 BE)     → version vector of a commit that has deps
//	0x14 space author seq(8) ID     → the second commit of fork evidence
//	0x16 space commitID             → author ‖ seq ‖ a known commit off the main chain
//	                                  (fork evidence or a forked branch)
//	0x17 space subject granter seq i(4) → a grant of a stored commit: role (1) ‖
//	                                  expires (8) ‖ uses (4) ‖ invite (32) ‖ prefix
//	0x18 space author seq(8 BE)     → a stored commit that does not count (why, text)
//	0x19 space author               → accepted revocation cut (8 BE)
//	0x1a space author seq(8) op(4)  → the payload of a rotate op of a commit applied
//	                                  to the view (see Rotations)
//	0x1b space key author seq(8) op(4) → its time (wall µs, 8 BE): a write to key that a later
//	                                  write superseded (erase.go: what an erase of key names)
//	0x1c space author seq(8) op(4)  → eraser (32) ‖ erase seq (8 BE) ‖ erase wall (8 BE) ‖
//	                                  erase logical (4 BE): an op whose payload was erased
//	0x1d space                      → the retention policy in force: its op's version
//	                                  (wall, logical, author, seq, op) ‖ mode (1) ‖ µs (8)
//	0x20 space key                  → view cell (see view.AppendCell)
//	0x21 space                      → view state: hash ‖ visible count ‖ max time ‖ flags
package store
