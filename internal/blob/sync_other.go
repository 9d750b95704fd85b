//go:build !linux && !windows

package blob

import "syscall"

const canSyncFS = true

// syncFS flushes the file systems: every file written, and every rename,
// is durable when it returns. Without syncfs(2), sync(2) is the one call
// that covers the chunk files written without fsync.
func syncFS(string) error {
	syscall.Sync()
	return nil
}
