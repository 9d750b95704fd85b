package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpaceArchiveCLI: 'loam space archive' then 'loam space restore' in
// another home carries the space with its author; --json prints the
// summary; a truncated archive fails with one clear line and restores
// nothing; a second restore is refused.
func TestSpaceArchiveCLI(t *testing.T) {
	src := gardenHome(t)
	src.ok("", "put", "garden", "tools/drill", "cordless, 18V")
	author := firstAuthor(t, src.ok("", "ls", "garden", "--json"))
	file := filepath.Join(t.TempDir(), "garden.loamarchive")
	out := src.ok("", "space", "archive", "garden", "-o", file, "--json")
	var sum struct {
		Space   string `json:"space"`
		Commits int    `json:"commits"`
		Bytes   int64  `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Commits != 2 || !strings.HasPrefix(sum.Space, "spc_") {
		t.Fatalf("archive --json: %q (%v)", out, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != sum.Bytes || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the archive file: %v, %v", fi, err)
	}

	dst := newHome(t)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.loamarchive")
	os.WriteFile(cut, b[:len(b)-10], 0o600)
	if line := dst.fail(1, "", "space", "restore", cut); !strings.Contains(line, "truncated") || !strings.Contains(line, "nothing was restored") {
		t.Errorf("restore of a truncated archive: %q", line)
	}
	if ls := dst.ok("", "space", "ls"); strings.Contains(ls, "garden") {
		t.Errorf("a failed restore left the space: %q", ls)
	}
	if out := dst.ok("", "space", "restore", file); !strings.Contains(out, "restored garden") || !strings.Contains(out, "every commit verified") {
		t.Errorf("restore: %q", out)
	}
	if got := dst.ok("", "get", "garden", "tools/drill"); strings.TrimSpace(got) != "cordless, 18V" {
		t.Errorf("get after restore: %q", got)
	}
	dst.ok("", "log", "verify", "garden")
	if line := dst.fail(1, "", "space", "restore", file); !strings.Contains(line, "already held") {
		t.Errorf("a second restore: %q", line)
	}
	// Through standard input, under another name, in a third home.
	third := newHome(t)
	third.ok(string(b), "space", "restore", "-", "--name", "garden-copy")
	if ls := third.ok("", "ls", "garden-copy", "--json"); firstAuthor(t, ls) != author {
		t.Errorf("the restored key is not by its writer: %s", ls)
	}
}

// firstAuthor returns the first author ID in a command's output.
func firstAuthor(t *testing.T, status string) string {
	t.Helper()
	i := strings.Index(status, "aut_")
	if i < 0 {
		t.Fatalf("no author in %q", status)
	}
	return status[i : i+4+52]
}
