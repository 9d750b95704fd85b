// Package snapshot computes what a checkpoint (#14, commit.KindCheckpoint,
// docs/plans/checkpoints.md) vouches for: the summary of S(F), the commits
// of a space up to a frontier F, that a fresh peer installs instead of
// S(F) and that every full replica recomputes to check a checkpoint.
//
// A snapshot has four sections, each deterministic bytes with a digest in
// the checkpoint: the kept commits' IDs (the commits with a live write at
// F and those with a control op), the cells at F (every non-empty key,
// live writes by their version only, their payloads being in the kept
// commits; tombstones and erased writes in full), the causal table (the
// gains of S(F)'s commits) and the acl decision at F (the commits that do
// not count, the cuts, the forked authors).
//
// FromStore reads them from a store whose heads are F (no replay); Build
// replays S(F), read from a store that may hold more, into a store in
// memory and reads them there. Both read the cells the store computes, so
// a snapshot's cells are the store's own, bit for bit; that they are the
// same whichever way they were computed is TestPropertyReplayEqualsStore.
package snapshot
