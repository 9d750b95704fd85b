// Package storetest is the conformance suite every store implementation
// runs, and the random multi-author histories and reference model (oracle)
// that the suite and the property tests use.
//
// The model computes a view from first principles (every write, the
// version vector of its commit, maximal writes per key, greatest version
// wins) without any of the store's incremental machinery, so agreement
// between the two is evidence about the store, not a restatement of it.
package storetest
