package node

import (
	"github.com/loamdb/loam/internal/durable"
	"github.com/loamdb/loam/internal/keys"
)

// replaceFile writes b to path durably (0600; see durable.WriteFile).
func replaceFile(path string, b []byte) error { return durable.WriteFile(path, b) }

// readSpaceFiles calls fn with the contents of each file in dir named
// <space ID><suffix>; other files are not ours and are skipped.
func readSpaceFiles(dir, suffix string, fn func(id keys.SpaceID, path string, b []byte) error) error {
	return durable.ReadFiles(dir, suffix, func(name, path string, b []byte) error {
		id, err := keys.ParseSpaceID(name)
		if err != nil {
			return nil // not ours
		}
		return fn(id, path, b)
	})
}
