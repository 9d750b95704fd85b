// Package bench is Loam's benchmark harness: side-by-side runs of Loam and
// the systems it is measured against.
//
// Every system runs the same [Workload] — a writer appends Blocks blocks of
// BlockSize bytes, Batch blocks per append, then a second process (or node)
// replicates them over loopback TCP — and reports a [Result] measured the
// same way: from the reader's connect until every block is verified and
// stored on the reader. The writer's appends are not timed.
//
// [RunHypercore] drives Hypercore 11 through the Node.js scripts in
// bench/hypercore; [RunLoam] is the seam for Loam's own side. [Systems]
// lists both, so a comparison runs every system on every workload in the
// same process. See bench/README.md for how to run the figures.
package bench
