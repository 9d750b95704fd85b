package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openToOthers lists what under home others may read or enter.
func openToOthers(t *testing.T, home string) []string {
	t.Helper()
	var open []string
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 && info.Mode().Perm()&0o077 != 0 {
			open = append(open, strings.TrimPrefix(path, home)+" "+info.Mode().Perm().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return open
}

// TestInitMakesHomePrivate is issue 10 H: 'loam init' in a directory made
// by hand (0755), and again in a home whose files others can read, leaves
// the home and every directory in it 0700 and every file 0600.
func TestInitMakesHomePrivate(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: filepath.Join(t.TempDir(), "home")}
	if err := os.Mkdir(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	h.ok("", "init")
	if open := openToOthers(t, h.dir); len(open) != 0 {
		t.Errorf("after init in a directory made by hand, others may read: %v", open)
	}
	// Files the store makes later may be 0644: the home (0700) keeps
	// others out.
	h.ok("", "space", "create", "garden")
	h.ok("", "put", "garden", "k", "v")

	// Copied or restored with others' permissions: init again repairs it.
	filepath.WalkDir(h.dir, func(path string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return os.Chmod(path, 0o755)
		}
		return os.Chmod(path, 0o644)
	})
	out := h.ok("", "init")
	if !strings.Contains(out, "already exists; made it private") {
		t.Errorf("init of a home open to others said %q", out)
	}
	if open := openToOthers(t, h.dir); len(open) != 0 {
		t.Errorf("after init of a home open to others, others may still read: %v", open)
	}
	if fi, err := os.Stat(h.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("home mode %v, want 0700 (%v)", fi.Mode().Perm(), err)
	}
	if out := h.ok("", "init"); !strings.Contains(out, "nothing changed") {
		t.Errorf("init of a private home said %q", out)
	}
	if got := h.ok("", "get", "garden", "k"); got != "v" {
		t.Errorf("get after init: %q", got)
	}
}
