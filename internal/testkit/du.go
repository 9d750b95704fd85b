package testkit

import (
	"errors"
	"io/fs"
	"path/filepath"
)

// DirAllocated returns the bytes the files under dir take on disk, as du
// counts them (Allocated), links not followed. A file or folder removed
// while it walks (a node dropping blobs) counts as nothing.
func DirAllocated(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n += Allocated(fi)
		return nil
	})
	return n, err
}
