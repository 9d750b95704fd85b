// Package view holds the merge rules of Loam's key-value view: pure,
// deterministic functions with no storage of their own.
//
// Each key of a space has a Cell: the set of live writes to it, where a write
// is live while no other write to the same key has seen it (its commit is not
// in the causal past of another writer's commit). The winner is the live write
// with the greatest Version, ordered by (HLC time, author, seq, op index);
// the other live writes are the key's conflicts: concurrent values that lost.
// A delete is a write of a tombstone.
//
// Provided every commit is applied after its causal past (prev and deps), the
// final cell of every key depends only on the set of commits, never on the
// order they arrived in: the live set is the set of causally maximal writes
// and the winner its maximum. The store applies commits in that order.
//
// The view hash is the XOR of one digest per visible entry (key, kind and
// payload digest of a winner that is neither a tombstone nor erased), so it is maintained
// incrementally and two replicas with the same visible state have the same
// hash whatever their history.
package view
