// Package space is the write path and read path of one space on one node.
//
// The write path turns ops into the device's next commit: it assigns the
// seq, the prev link, an HLC time later than anything seen, and the deps (the
// heads of other authors that changed since the device's previous commit),
// signs it and submits it to the store's group commit. Commits of one space
// are built and submitted under one mutex so they reach the store in seq
// order; waiting for durability happens outside it, so concurrent writers
// share fsyncs.
//
// The read path passes through to the store. Watch delivers visible changes
// to subscribers through a Hub fed by the store's applier in apply order.
package space
