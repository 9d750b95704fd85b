//go:build unix

package testkit

import (
	"io/fs"
	"syscall"
)

// Allocated returns the bytes fi takes on disk, as du counts them
// (st_blocks × 512), not its length.
func Allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
