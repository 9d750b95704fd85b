package blob

import (
	"errors"
	"sync"
	"syscall"
	"unsafe"
)

// Direct writes. A downloaded chunk is written with O_DIRECT where the
// file system allows it (Linux; see createDirect): the disk takes the bytes
// from the buffer they arrived in, rather than the kernel copying them into
// new page-cache pages first, which was about a quarter of a fetch's CPU.
// O_DIRECT wants the buffer's address, the file offset and the length to be
// multiples of the device's logical block size: buffers here are aligned to
// directAlign (4 KiB, the largest logical block size in common use), a
// chunk is written from offset 0, and a chunk whose length is not a
// multiple is written padded to one and then truncated to its length.
// Durability is as for any chunk: the file is renamed into place, and the
// one syncfs at the end of the fetch commits its size and name and flushes
// the device's cache.

// directAlign is the alignment of a direct write's buffer, offset and
// length.
const directAlign = 4096

// alignUp rounds n up to a multiple of directAlign.
func alignUp(n int) int { return (n + directAlign - 1) &^ (directAlign - 1) }

// isAligned reports whether b starts at a multiple of directAlign in
// memory.
func isAligned(b []byte) bool {
	return cap(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign == 0
}

// alignedBuf returns a buffer of n bytes, with a capacity of exactly n,
// that starts at a multiple of directAlign in memory.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (directAlign - 1))
	return b[off : off+n : off+n]
}

// dataBufs holds aligned buffers of ChunkSize for chunk data: a Client
// reads a chunk's data into one (see Client.Recycle), and a direct write
// copies a chunk that is not in one into one. The pool's buffers are freed
// by the garbage collector when unused; in use there are at most as many as
// chunks being received or written.
var dataBufs = sync.Pool{New: func() any { b := alignedBuf(ChunkSize); return &b }}

// getDataBuf returns an aligned buffer of ChunkSize bytes from dataBufs.
func getDataBuf() []byte { return *dataBufs.Get().(*[]byte) }

// putDataBuf gives b back to dataBufs if it is one of its buffers (or
// looks like one: aligned, with a capacity of ChunkSize). The caller must
// not use b afterwards.
func putDataBuf(b []byte) {
	if cap(b) != ChunkSize || !isAligned(b) {
		return
	}
	b = b[:ChunkSize]
	dataBufs.Put(&b)
}

// errDirectRefused reports a system without direct writes.
var errDirectRefused = errors.New("blob: direct writes are not used here")

// isDirectRefused reports whether err, from opening a file with O_DIRECT
// or writing to it, means the file system will not take direct writes
// (EINVAL: it refuses the flag, or the alignment): the chunk is then
// written through the page cache, and so are the store's later ones.
func isDirectRefused(err error) bool {
	return errors.Is(err, errDirectRefused) || errors.Is(err, syscall.EINVAL)
}
