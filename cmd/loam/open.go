package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/keys"
)

// homeExists reports whether home holds a device key, i.e. whether 'loam
// init' (or any loam.Open) has run there.
func homeExists(home string) (bool, error) {
	_, err := os.Stat(filepath.Join(home, keys.DeviceKeyFile))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("read the Loam home: %w", err)
}

// openNode opens the node in the home chosen by --home. Unlike loam.Open it
// does not create a home: a mistyped --home or LOAM_HOME should not quietly
// start a new, empty one. The caller closes the node.
func openNode(ctx context.Context, g *globalOptions) (*loam.Node, error) {
	home := g.homeDir()
	ok, err := homeExists(home)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no Loam home in %s: run 'loam init' to create one, or choose another with --home or LOAM_HOME", home)
	}
	return openHome(ctx, home)
}

// openHome opens the node in home, creating it if needed.
func openHome(ctx context.Context, home string) (*loam.Node, error) {
	n, err := loam.Open(ctx, loam.Options{Home: home})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// checkKey says what is wrong with a key the API would refuse.
func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return errors.New("the key is empty: give a non-empty KEY")
	case len(key) > loam.MaxKeySize:
		return fmt.Errorf("the key is %d bytes, more than the limit of %d: use a shorter key", len(key), loam.MaxKeySize)
	}
	return nil
}

// checkValue says what is wrong with a value of n bytes the API would refuse.
func checkValue(n int) error {
	if n > loam.MaxValueSize {
		return fmt.Errorf("the value is %d bytes, more than the limit of %d (64 KiB): store a smaller value, or give a large value as a file (put -f FILE) to store it as a blob", n, loam.MaxValueSize)
	}
	return nil
}

// notFound turns the API's ErrNotFound for key in space ref into a message
// that says where to look.
func notFound(err error, ref string, key []byte) error {
	if errors.Is(err, loam.ErrNotFound) {
		return fmt.Errorf("key %q not found in space %s (list its keys with 'loam ls %s')", key, ref, ref)
	}
	return err
}
