package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

// Disk usage (issue 14): what a node's home takes on disk, per space and
// in all, and compaction for the impatient. docs/design.md, "Disk that
// matches the data (#14)", defines the figures.

// SpaceBytes is what one space takes on disk.
type SpaceBytes struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	// Live is what the space's view takes: its cells, the visible values
	// of its keys. History is what its commits take, with their indexes:
	// every write ever made, superseded or not. Both are estimates read
	// from the store's table indexes; rows not yet flushed to the tables
	// (DiskUsage.Unflushed) are in neither.
	Live    int64 `json:"live"`
	History int64 `json:"history"`
	// Blobs are the bytes held here of the blobs the space references. A
	// blob two spaces reference counts in full in each, so the sum over
	// spaces can exceed DiskUsage.Blobs, where it counts once.
	Blobs int64 `json:"blobs"`
}

// DiskUsage is what a node's home takes on disk.
type DiskUsage struct {
	Spaces []SpaceBytes `json:"spaces"`
	// Store is what the store's directory takes: Tables (the rows), plus
	// Obsolete tables not deleted yet, WAL (the write-ahead logs, holding
	// Unflushed bytes not yet in tables), Reserve (the loam-reserve file
	// kept for a full disk, fixed: 64 MiB on a large disk) and Pebble's
	// small files.
	Store     int64 `json:"store"`
	Tables    int64 `json:"tables"`
	Obsolete  int64 `json:"obsolete"`
	WAL       int64 `json:"wal"`
	Unflushed int64 `json:"unflushed"`
	Reserve   int64 `json:"reserve"`
	// Blobs is what the blob store's chunks take, each counted once.
	Blobs int64 `json:"blobs"`
	// Total is Store + Blobs.
	Total int64 `json:"total"`
}

// diskNode is what a Node implementation does for disk usage.
type diskNode interface {
	diskUsage(ctx context.Context) (DiskUsage, error)
	compact(ctx context.Context, space string, progress func(done, total int)) (before, after DiskUsage, err error)
}

// DiskUsage returns what the node's home takes on disk. It reads no row
// for the stores' figures (estimates from Pebble's indexes) and reads
// each space's keys for its blob references only when the space changed
// since the last call.
func (n *Node) DiskUsage(ctx context.Context) (DiskUsage, error) { return n.impl.diskUsage(ctx) }

// Compact compacts the store's rows of space (a name or ID), or of every
// space for "": rows deleted, overwritten or erased there free their disk
// space now rather than when the store gets to them. It returns the usage
// before and after. progress, if not nil, is called as ranges of rows are
// done (through the daemon, at most ten times a second). Reads and writes
// go on meanwhile; compactions of one store run one at a time.
func (n *Node) Compact(ctx context.Context, space string, progress func(done, total int)) (before, after DiskUsage, err error) {
	return n.impl.compact(ctx, space, progress)
}

func diskUsageOf(u api.DiskUsage) DiskUsage {
	out := DiskUsage{
		Store: u.Store, Tables: u.Tables, Obsolete: u.Obsolete, WAL: u.WAL, Unflushed: u.Unflushed,
		Reserve: u.Reserve, Blobs: u.Blobs, Total: u.Total, Spaces: make([]SpaceBytes, len(u.Spaces)),
	}
	for i, s := range u.Spaces {
		out.Spaces[i] = SpaceBytes(s)
	}
	return out
}

func (l localNode) diskUsage(ctx context.Context) (DiskUsage, error) {
	u, err := api.DiskUsageOf(ctx, l.n)
	return diskUsageOf(u), err
}

func (l localNode) compact(ctx context.Context, space string, progress func(done, total int)) (DiskUsage, DiskUsage, error) {
	res, err := api.CompactNode(ctx, l.n, space, progress)
	return diskUsageOf(res.Before), diskUsageOf(res.After), err
}

func (r *remoteNode) diskUsage(ctx context.Context) (DiskUsage, error) {
	u, err := r.c.DiskUsage(ctx)
	return diskUsageOf(u), err
}

func (r *remoteNode) compact(ctx context.Context, space string, progress func(done, total int)) (DiskUsage, DiskUsage, error) {
	res, err := r.c.Compact(ctx, space, progress)
	return diskUsageOf(res.Before), diskUsageOf(res.After), err
}
