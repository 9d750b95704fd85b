package blob

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// createDirect creates a new temporary file in dir, opened for writing
// with O_DIRECT. A file system that does not do direct I/O refuses the
// flag with EINVAL (tmpfs did before Linux 6.6; see isDirectRefused).
func createDirect(dir string) (*os.File, error) {
	for range 10 {
		p := filepath.Join(dir, "d-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_DIRECT, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, errors.New("no free temporary file name")
}
