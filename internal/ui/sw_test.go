package ui

import (
	"io/fs"
	"regexp"
	"testing"
)

// TestServiceWorkerShell: the service worker caches every file of the UI
// (but itself) when it installs, so that the app opens offline whichever
// page was seen before.
func TestServiceWorkerShell(t *testing.T) {
	files := Files()
	sw, err := fs.ReadFile(files, "sw.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)const SHELL_FILES = \[(.*?)\];`).FindSubmatch(sw)
	if m == nil {
		t.Fatal("sw.js has no SHELL_FILES")
	}
	listed := map[string]bool{}
	for _, f := range regexp.MustCompile(`'(/[^']*)'`).FindAllSubmatch(m[1], -1) {
		listed[string(f[1])] = true
	}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "sw.js" {
			return err
		}
		if !listed["/"+p] {
			t.Errorf("sw.js does not cache /%s", p)
		}
		return nil
	})
}
