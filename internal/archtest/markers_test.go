package archtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoConflictMarkers: no file git tracks holds a line a merge left
// (<<<<<<< , =======, >>>>>>> ): a conflict committed by mistake. A
// merge once committed docs/design.md with its markers in.
func TestNoConflictMarkers(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a git checkout)", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join("../..", name))
		if err != nil || bytes.IndexByte(b, 0) >= 0 {
			continue // gone from the work tree, or binary
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for i := 1; sc.Scan(); i++ {
			l := sc.Text()
			if strings.HasPrefix(l, "<<<<<<< ") || strings.HasPrefix(l, ">>>>>>> ") || l == "=======" && strings.HasSuffix(name, ".go") {
				t.Errorf("%s:%d: %q: a merge conflict left in", name, i, l)
			}
		}
	}
}
