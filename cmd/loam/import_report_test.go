package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/testkit"
)

// flakyBackend fails the failAt-th Write: after storing it if stored (a
// daemon that dies before it answers), else before. With blind, Lookup
// fails too (the daemon is gone).
type flakyBackend struct {
	backend
	failAt, calls int
	stored, blind bool
}

func (f *flakyBackend) Write(ctx context.Context, ref string, ws []write) error {
	f.calls++
	if f.calls != f.failAt {
		return f.backend.Write(ctx, ref, ws)
	}
	if f.stored {
		if err := f.backend.Write(ctx, ref, ws); err != nil {
			return err
		}
	}
	return errors.New("read tcp 127.0.0.1:4000: connection reset by peer")
}

func (f *flakyBackend) Lookup(ctx context.Context, ref string, key []byte) (loam.KV, error) {
	if f.blind {
		return loam.KV{}, errors.New("dial tcp 127.0.0.1:4000: connection refused")
	}
	return f.backend.Lookup(ctx, ref, key)
}

// TestImportReportsWhatLanded is issue 10 H: when the write of a batch
// fails, import says what the space holds: a batch stored before the
// failure is reported imported, one not stored is reported not imported,
// and when the space cannot be read it says it does not know.
func TestImportReportsWhatLanded(t *testing.T) {
	t.Parallel()
	var in strings.Builder
	for i := 1; i <= 3000; i++ {
		fmt.Fprintf(&in, `{"key":"k%05d","value":"v%d"}`+"\n", i, i)
	}
	for _, c := range []struct {
		name          string
		stored, blind bool
		want          []string
		keys          int
	}{
		{"stored before the failure", true, false, []string{"writing lines 1001-2000 reported an error", "but they were stored: lines 1-2000 were imported, nothing after; import again from line 2001"}, 2000},
		{"not stored", false, false, []string{"line 2000: write lines 1001-2000: ", "nothing of lines 1001-2000 was imported (lines 1-1000 were)"}, 1000},
		{"cannot tell", true, true, []string{"lines 1001-2000 may or may not have been imported", "lines 1-1000 were imported", "import again from line 1001"}, 2000},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			ctx := context.Background()
			n, err := loam.Open(ctx, loam.Options{Home: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if _, err := n.CreateSpace(ctx, "garden", loam.Public); err != nil {
				t.Fatal(err)
			}
			b := &flakyBackend{backend: directBackend{n}, failAt: 2, stored: c.stored, blind: c.blind}
			imp := &importer{b: b, space: "garden", batchMax: 1000}
			err = imp.run(ctx, strings.NewReader(in.String()))
			if err == nil {
				t.Fatal("import succeeded through a failing write")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			sp, err := n.Space(ctx, "garden")
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, err := range sp.Range(ctx, loam.Prefix("k")) {
				if err != nil {
					t.Fatal(err)
				}
				got++
			}
			if got != c.keys {
				t.Errorf("the space holds %d keys, want %d", got, c.keys)
			}
		})
	}
}

// TestImportDaemonKilled: a daemon killed with SIGKILL during an import;
// whatever import then says was imported is there after a restart, and
// whatever it says was not is not.
func TestImportDaemonKilled(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	d := startDaemon(t, h, loopbackDaemon...)
	h.ok("", "space", "create", "garden")
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
