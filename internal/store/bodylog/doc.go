// Package bodylog keeps records (the store's commit bodies) in an
// append-only log of segment files, written once, so that Pebble holds
// only each record's place and does not rewrite the bytes in its WAL,
// flushes and compactions (docs/design.md, "Next for 40,000 commits/s").
//
// The store appends a group's bodies (Append), syncs the log (Sync), then
// commits the Pebble batch that names their places; a crash between the
// two leaves records no row names, which are harmless. Readers read a
// place (Read) from any goroutine.
//
// # Files
//
// A log is a directory (the store's is <home>/bodies) of segment files
// named by their number, 8 decimal digits from 1, and ".seg":
// 00000001.seg, 00000002.seg, ... The highest is the tail, the only one
// written to. A segment grows to Options.SegmentSize (64 MiB by default)
// and the next record that does not fit starts the next segment; a record
// larger than that has a segment to itself. A number may be missing below
// the tail: Remove deleted that segment. A file named NNNNNNNN.seg.tmp is
// a segment being made or cut when a crash came; Open removes it.
//
// # Segment format, byte by byte (version 1)
//
// All integers are little-endian.
//
//	offset  size  field
//	0       8     magic, the ASCII bytes "loamseg1"
//	8       4     format version, uint32: 1
//	12      4     the segment's number, uint32 (as in its file name)
//	16      ...   records, one after another, to the end of the file
//
// A record of n bytes (0 <= n <= 64 MiB, MaxRecord) takes 8+n bytes:
//
//	offset  size  field
//	0       4     n, uint32
//	4       4     CRC-32C (Castagnoli) of the 4 bytes of n then the n bytes
//	8       n     the bytes
//
// For example the record "hi" is these 10 bytes (the checksum of
// 02 00 00 00 68 69 is 0x885a7259):
//
//	02 00 00 00  59 72 5a 88  68 69
//
// Eight zero bytes are not a record: the checksum of a zero length is
// 0x48674bc7, not zero.
//
// # Places
//
// A Place names a record: the segment's number, the offset of the record's
// first byte (its length) in the segment file, and n. AppendPlace encodes
// it in 12 bytes: Seg, Off, Len, each a little-endian uint32. Read checks
// that the record at Off has length Len and a good checksum.
//
// # Crash rule
//
// Records appended before a Sync that returned survive a crash; those
// after it may be lost, whole or in part, and nothing after a lost one
// survives. Sync syncs the tail (fdatasync), and the directory when a
// segment was made since the last Sync. Before Append starts a new
// segment it syncs the one it leaves (and the directory, if that one is
// new since the last Sync), and it makes the new file whole (header,
// sync, rename): so only the tail can end in a torn record, and a segment
// survives only if every earlier one does, whole. Open reads the tail's
// records from the start and cuts the file at the first that does not
// decode (a bad length, one past the end of the file, a bad checksum),
// durably (vfs has no truncate: the records before the cut are copied to
// NNNNNNNN.seg.tmp, synced and renamed over the segment, and the directory
// synced), before it appends anything. A place Append returned for a
// record lost in a crash may be returned again for another record: name a
// place only once Sync has returned.
//
// # Reclaiming space
//
// The log does not know which records rows still name. Segments lists the
// segments and their sizes, and Remove deletes one (never the tail). The
// store copies the records still named out of a mostly dead segment
// (Read, Append, and a batch naming the copies), then removes it.
package bodylog
