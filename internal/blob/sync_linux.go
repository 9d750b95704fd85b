package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

const canSyncFS = true

// syncFS flushes the file system that holds dir: every file written there,
// and every rename, is durable when it returns.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
