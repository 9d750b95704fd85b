//go:build !unix

package testkit

import "io/fs"

// Allocated returns the bytes fi takes on disk; here, without st_blocks,
// its length.
func Allocated(fi fs.FileInfo) int64 { return fi.Size() }
