package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/testkit"
)

// TestImportDaemonKilled: a daemon killed with SIGKILL during an import;
// whatever import then says was imported is there after a restart, and
// whatever it says was not is not.
func TestImportDaemonKilled(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	d := startDaemon(t, h, loopbackDaemon...)
	var in strings.Builder
	const lines = 60_000
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&in, `{"key":"k%05d","value":"%s"}`+"\n", i, strings.Repeat("v", 50))
	}
	imp := exec.Command(loamBin, "import", "garden", "--batch", "500")
	imp.Env = env(h.dir)
	imp.Stdin = strings.NewReader(in.String())
	var stderr testkit.SyncBuffer
	imp.Stderr = &stderr
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := h.run("", "get", "garden", "k00501")
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no batch landed within 30 s: %s", r.stderr)
		}
		time.Sleep(5 * time.Millisecond) // re-check interval
	}
	d.cmd.Process.Kill()
	<-d.done
	if err := imp.Wait(); err == nil {
		t.Skip("the import finished before the kill")
	}
	msg := stderr.String()
	t.Logf("import said: %s", strings.TrimSpace(msg))
	held := map[int]bool{}
	for _, line := range strings.Split(strings.TrimSpace(h.ok("", "export", "garden")), "\n") {
		if n, err := strconv.Atoi(line[len(`{"key":"k`) : len(`{"key":"k`)+5]); err == nil {
			held[n] = true
		}
	}
	span := func(re string) (int, int, bool) {
		m := regexp.MustCompile(re).FindStringSubmatch(msg)
		if m == nil {
			return 0, 0, false
		}
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		return a, b, true
	}
	checked := false
	if a, b, ok := span(`lines (\d+)-(\d+) were`); ok {
		checked = true
		for i := a; i <= b; i++ {
			if !held[i] {
				t.Fatalf("import said lines %d-%d were imported, but line %d is not there", a, b, i)
			}
		}
	}
	if a, b, ok := span(`nothing of lines (\d+)-(\d+) was imported`); ok {
		checked = true
		for i := a; i <= b; i++ {
			if held[i] {
				t.Fatalf("import said lines %d-%d were not imported, but line %d is there", a, b, i)
			}
		}
	}
	if !checked {
		t.Fatalf("the import's error says nothing about what was imported: %q", msg)
	}
}
