// Package readkey keeps the read keys of the private spaces a node reads
// (docs/design.md, "Private spaces"): one key file per space under
// HOME/spaces (<space>.readkeys, 0600), never in the store, and the invite
// keys a node joined with (<space>.invites), which open a rotation sealed
// to the invite before the admin saw the join.
//
// A Custody is the store's two hooks on its applier goroutine: Rotated
// keeps the epoch key of a rotate op sealed to this device (or one of its
// invite keys) in memory at once and leaves the key file to SaveLoop, so
// that the hook does no I/O; Unseal opens a sealed op with the keys held.
// A key that could not be saved is used all the same, reported by
// Unsaved, saved by the next key learnt or by SaveUnsaved, and learnt
// again from the store's rotate ops on the next start (LearnStored).
//
// Who calls what: the node loads the custody before opening its store,
// runs SaveLoop on a goroutine it owns, calls SaveUnsaved when it closes,
// and Add, Joining and Forget as spaces are made, joined and left. Every
// method is safe for concurrent use; none calls out while holding a lock.
package readkey
