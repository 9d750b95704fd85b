// Package durable writes small files that survive a crash whole, and
// reads sets of them back: the node's key files, join records, peer book
// and listen addresses under HOME.
//
// WriteFile writes through a temporary file that is synced and renamed
// into place, then syncs the directory: after a crash the file holds
// either its old bytes or its new ones.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile writes b to path durably (0600): through a temporary file that
// is synced and renamed into place, in a directory made (0700) if missing.
func WriteFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := writeSync(tmp, b); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the directory is.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadFiles calls fn with the name (less suffix), path and contents of
// each file in dir whose name ends in suffix, in name order, and returns
// the first error fn returns. A missing dir holds no files.
func ReadFiles(dir, suffix string, fn func(name, path string, b []byte) error) error {
	files, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		if err := fn(strings.TrimSuffix(filepath.Base(f), suffix), f, b); err != nil {
			return err
		}
	}
	return nil
}
