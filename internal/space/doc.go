// Package space is the write path and read path of one space on one node.
//
// The write path turns ops into the device's next commit: it assigns the
// seq, the prev link, an HLC time later than anything seen, and the deps (the
// heads of other authors that changed since the device's previous commit),
// signs it and submits it to the store's group commit. One goroutine per
// space, the committer, builds, signs and submits the device's commits
// and reads their outcomes in seq order, merging the writes queued
// meanwhile into one commit, so concurrent writers share signatures and
// fsyncs, and the device's chain has one writer: it never forks itself,
// whatever fails. Writers wait for their commit or for their context.
//
// The read path passes through to the store. Watch delivers visible changes
// to subscribers through a Hub fed by the store's applier in apply order.
package space
