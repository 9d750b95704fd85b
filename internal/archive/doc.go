// Package archive writes and restores space archives: one space's signed
// commits as they are, with the blobs it references (sealed ones as
// stored) and what a restore needs to hold the space, in a versioned,
// length-framed, hashed stream (docs/format/archive.md).
//
// Write reads a node's store; Restore adds the space to a node through
// the store's normal write path, verifying every commit and re-signing
// none, all or nothing. Both run over an embedded node; package api
// streams them to and from a daemon.
package archive
