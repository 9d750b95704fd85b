//go:build !linux

package blob

import "os"

// createDirect reports that direct writes are not used on this system:
// chunks are written through the page cache.
func createDirect(string) (*os.File, error) { return nil, errDirectRefused }
