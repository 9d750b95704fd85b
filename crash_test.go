package loam_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/loamdb/loam"
)

const crashWrites = 10_000

// TestCrashSafety: a child process writes single-op commits, printing each
// acknowledged index; the parent SIGKILLs it at random points in at least 20
// rounds. After every kill the reopened store holds every acknowledged
// write, its history verifies, and the child continues where it stopped,
// until 10,000 writes are acknowledged.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test writes 10,000 durable commits; skipped with -short")
	}
	home := t.TempDir()
	ctx := context.Background()
	n, err := loam.Open(ctx, loam.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.CreateSpace(ctx, "crash", loam.Public); err != nil {
		t.Fatal(err)
	}
	n.Close()

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	acked := -1 // highest acknowledged index
	for round := 0; ; round++ {
		last := round >= 20 && acked < crashWrites-1
		killAfter := 1 + r.IntN(2*crashWrites/25) // acks to wait for before the kill
		if last {
			killAfter = -1 // let it finish
		}
		got, exited := runCrashChild(t, home, killAfter)
		if got > acked {
			acked = got
		}
		checkCrashHome(t, home, acked)
		if exited {
			if acked != crashWrites-1 {
				t.Fatalf("child exited with %d acknowledged writes", acked+1)
			}
			t.Logf("%d rounds, %d acknowledged writes, all present after every kill", round+1, acked+1)
			return
		}
	}
}

// runCrashChild starts the child and SIGKILLs it after killAfter acks (never
// if negative). It returns the highest index acknowledged and whether the
// child finished on its own.
func runCrashChild(t *testing.T, home string, killAfter int) (int, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "LOAM_CRASH_HOME="+home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked, seen := -1, 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "ack ") {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(line, "ack "))
		if err != nil {
			t.Fatalf("child said %q", line)
		}
		acked = i
		if seen++; seen == killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
		return acked, false
	}
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, stderr.String())
	}
	return acked, true
}

func checkCrashHome(t *testing.T, home string, acked int) {
	t.Helper()
	ctx := context.Background()
	n, err := loam.Open(ctx, loam.Options{Home: home})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer n.Close()
	sp, err := n.Space(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= acked; i++ {
		v, err := sp.Get(ctx, crashKey(i))
		if err != nil || string(v) != crashValue(i) {
			t.Fatalf("acknowledged write %d lost after kill: %q, %v", i, v, err)
		}
	}
	if _, err := sp.Verify(ctx); err != nil {
		t.Fatalf("history does not verify after kill: %v", err)
	}
}

func crashKey(i int) []byte   { return fmt.Appendf(nil, "k/%05d", i) }
func crashValue(i int) string { return fmt.Sprintf("value %d", i) }

// TestCrashChild is the child of TestCrashSafety; it does nothing unless
// LOAM_CRASH_HOME is set.
func TestCrashChild(t *testing.T) {
	home := os.Getenv("LOAM_CRASH_HOME")
	if home == "" {
		t.Skip("child process of TestCrashSafety")
	}
	ctx := context.Background()
	n, err := loam.Open(ctx, loam.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	sp, err := n.Space(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	st, err := sp.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := int(st.Keys); i < crashWrites; i++ {
		if err := sp.Put(ctx, crashKey(i), []byte(crashValue(i))); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "ack %d\n", i)
		w.Flush()
	}
}
