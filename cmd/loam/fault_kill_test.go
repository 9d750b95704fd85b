package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/testkit"
)

// killSeedEnv sets the seed of the kill -9 tests (where to kill); random
// if unset.
const killSeedEnv = "LOAM_KILL_SEED"

// importLines is the size of the imports the kill tests interrupt.
const importLines = 100_000

// importLine returns line i (1-based) of the kill tests' imports: the key
// item/<i> with a value that names the line, so every write is unique.
func importLine(i int) string {
	return fmt.Sprintf(`{"key":"item/%06d","value":"line %06d %s"}`, i, i, strings.Repeat("x", 60))
}

func importValue(i int) string { return fmt.Sprintf("line %06d %s", i, strings.Repeat("x", 60)) }

// importInput returns lines from..to of the import.
func importInput(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(importLine(i))
		b.WriteByte('\n')
	}
	return b.String()
}

// importReport is what an interrupted 'loam import' said was imported.
type importReport struct {
	imported int // lines 1..imported were imported
	// notFrom..notTo is the batch it said was not imported (0 if none).
	notFrom, notTo int
	inDoubt        bool // it said lines notFrom-notTo may or may not have been imported
}

var (
	importedRE = regexp.MustCompile(`lines 1-(\d+) were|\(line 1 was\)`)
	notRE      = regexp.MustCompile(`nothing of lines (\d+)-(\d+) was imported|nothing from line (\d+) on was imported`)
	doubtRE    = regexp.MustCompile(`lines (\d+)-(\d+) may or may not have been imported`)
)

// parseImportError reads the error line of an interrupted import.
func parseImportError(line string) (importReport, error) {
	var r importReport
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	switch m := importedRE.FindStringSubmatch(line); {
	case m == nil && strings.Contains(line, "nothing was imported"):
	case m == nil:
		return r, fmt.Errorf("the import's error does not say what was imported: %q", line)
	case m[1] != "":
		r.imported = atoi(m[1])
	default:
		r.imported = 1
	}
	if m := notRE.FindStringSubmatch(line); m != nil {
		r.notFrom, r.notTo = atoi(m[1]), atoi(m[2])
		if m[3] != "" {
			r.notFrom, r.notTo = atoi(m[3]), atoi(m[3])
		}
	}
	if m := doubtRE.FindStringSubmatch(line); m != nil {
		r.notFrom, r.notTo, r.inDoubt = atoi(m[1]), atoi(m[2]), true
	}
	return r, nil
}

// killDaemon kills d with SIGKILL and waits for it to be gone.
func killDaemon(t *testing.T, d *daemonProc) {
	t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

// spaceKeys returns the visible keys of space name on d, or -1.
func spaceKeys(d *daemonProc, name string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := d.client.Status(ctx)
	if err != nil {
		return -1
	}
	for _, s := range st.Spaces {
		if s.Name == name {
			return s.Keys
		}
	}
	return -1
}

// TestKillDuringImport is the fault suite's kill -9 test of the write path
// (docs/reliability.md): a daemon is killed with SIGKILL at a random point
// of a 100,000-line 'loam import' that goes through it, and restarted.
// Acknowledged, for an import, is what it reported imported: the lines
// before the batch its error names. Every one of them must be there after
// the restart, with its value, the log must verify, and no line the import
// never sent may appear; the lines of the batch in flight are in doubt,
// unless the error says that nothing of them was imported, which must
// then be true. Re-running the import from the first line not reported
// imported completes it, and then all 100,000 lines are there.
func TestKillDuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: imports 100,000 lines through a daemon it kills")
	}
	t.Parallel()
	r := rand.New(rand.NewPCG(faultSeed(t, killSeedEnv), 1))
	// At most 60% in: on an idle machine the import runs at ~45,000 keys/s,
	// and aimed at 84,000 of 100,000 it finished the last 9 commits before
	// the kill landed (CI, seed 3444813096).
	killAt := int64(10_000 + r.IntN(50_000))
	h := gardenHome(t)
	h.timeout = 3 * time.Minute
	d := startDaemon(t, h, loopbackDaemon...)

	imp := exec.Command(loamBin, "import", "garden")
	imp.Env = env(h.dir)
	imp.Stdin = strings.NewReader(importInput(1, importLines))
	var stderr testkit.SyncBuffer
	imp.Stderr = &stderr
	start := time.Now()
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- imp.Wait() }()
	var held int64
	for held = spaceKeys(d, "garden"); held < killAt; held = spaceKeys(d, "garden") {
		select {
		case err := <-done:
			t.Fatalf("the import ended (%v) before the daemon held %d keys: %s", err, killAt, stderr.String())
		default:
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("the daemon did not reach %d keys within 2 minutes", killAt)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	killDaemon(t, d)
	t.Logf("killed the daemon with SIGKILL once it held %d keys (aimed at %d), %.1fs into the import", held, killAt, time.Since(start).Seconds())
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the import succeeded although its daemon was killed: %s", stderr.String())
		}
	case <-time.After(time.Minute):
		imp.Process.Kill()
		t.Fatalf("the import did not end within a minute of its daemon's death: %s", stderr.String())
	}
	line := errorLineOf(t, stderr.String())
	rep, err := parseImportError(line)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the import said: %s", line)

	d = startDaemon(t, h, loopbackDaemon...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := d.client.Verify(ctx, "garden"); err != nil {
		t.Errorf("log verify after the restart: %v", err)
	}
	snap, err := takeSnapshot(ctx, "the restarted daemon", d.client, "garden")
	if err != nil {
		t.Fatal(err)
	}
	check := ackcheck.New()
	for i := 1; i <= rep.imported; i++ {
		check.Acked(ackcheck.Write{Space: "garden", Key: fmt.Sprintf("item/%06d", i), Value: importValue(i), Writer: "import"})
	}
	last := rep.imported + 1000 // the batch in flight: --batch is 1000
	for i := rep.imported + 1; i <= min(last, importLines); i++ {
		check.InDoubt(ackcheck.Write{Space: "garden", Key: fmt.Sprintf("item/%06d", i), Value: importValue(i), Writer: "import"})
	}
	if err := check.Check(ctx, snap); err != nil {
		t.Error(err)
	}
	if n := len(snap.kv); n > last {
		t.Errorf("%d keys after the restart, but the import sent at most %d lines", n, last)
	}
	if rep.notFrom > 0 && !rep.inDoubt {
		there := 0
		for i := rep.notFrom; i <= rep.notTo; i++ {
			if _, ok := snap.kv[fmt.Sprintf("item/%06d", i)]; ok {
				there++
			}
		}
		if there > 0 {
			t.Errorf("the import said nothing of lines %d-%d was imported, but %d of them are there: it must say they may have been", rep.notFrom, rep.notTo, there)
		}
	}
	t.Logf("after the restart: %d keys; %d acknowledged lines checked", len(snap.kv), rep.imported)

	// Resume from the first line not reported imported.
	h.ok(importInput(rep.imported+1, importLines), "import", "garden")
	check = ackcheck.New()
	for i := 1; i <= importLines; i++ {
		check.Acked(ackcheck.Write{Space: "garden", Key: fmt.Sprintf("item/%06d", i), Value: importValue(i), Writer: "import"})
	}
	if snap, err = takeSnapshot(ctx, "the restarted daemon", d.client, "garden"); err != nil {
		t.Fatal(err)
	}
	if err := check.Check(ctx, snap); err != nil {
		t.Error(err)
	}
	if len(snap.kv) != importLines {
		t.Errorf("%d keys after the resumed import, want %d", len(snap.kv), importLines)
	}
	if _, err := d.client.Verify(ctx, "garden"); err != nil {
		t.Errorf("log verify after the resumed import: %v", err)
	}
	d.stop(t)
}

// TestKillDuringSync is the fault suite's kill -9 test of sync
// (docs/reliability.md): daemon B, a member of daemon A's space, comes
// back after A imported 100,000 keys, and catches up while writers put
// keys through both APIs. During the catch-up B is killed with SIGKILL and
// restarted, then A is. After each restart the survivor is told the new
// address (POST /v1/connect: with no DHT and no mDNS nothing else would
// find it), sync resumes, and once the writers stop both converge to the
// same view hash and commits; every acknowledged write is on both
// (package ackcheck), and both logs verify.
func TestKillDuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: syncs 100,000 keys between two daemons it kills")
	}
	t.Parallel()
	r := rand.New(rand.NewPCG(faultSeed(t, killSeedEnv), 2))
	a, b := newHome(t), newHome(t)
	a.timeout, b.timeout = 3*time.Minute, 3*time.Minute
	var mu sync.Mutex // guards da and db, which restarts replace
	da := startDaemon(t, a, loopbackDaemon...)
	db := startDaemon(t, b, loopbackDaemon...)
	current := func(d **daemonProc) func() *api.Client {
		return func() *api.Client { mu.Lock(); defer mu.Unlock(); return (*d).client }
	}
	connect := func(which string, from, to *daemonProc) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := from.client.Connect(ctx, to.info.Addrs[0]); err != nil {
			t.Fatalf("connect %s to the other daemon: %v", which, err)
		}
	}

	a.ok("", "space", "create", "garden")
	b.ok("", "join", strings.TrimSpace(a.ok("", "invite", "garden")))
	db.stop(t)
	a.ok(importInput(1, importLines), "import", "garden")
	check := ackcheck.New()
	for i := 1; i <= importLines; i++ {
		check.Acked(ackcheck.Write{Space: "garden", Key: fmt.Sprintf("item/%06d", i), Value: importValue(i), Writer: "import"})
	}
	db = startDaemon(t, b, loopbackDaemon...)
	connect("B", db, da)
	catchUp := time.Now()

	wa := &apiWriter{name: "a", sp: "garden", client: current(&da), check: check, shared: 20, r: rand.New(rand.NewPCG(r.Uint64(), 0))}
	wb := &apiWriter{name: "b", sp: "garden", client: current(&db), check: check, shared: 20, r: rand.New(rand.NewPCG(r.Uint64(), 0))}
	stop := make(chan struct{})
	writersDone := make(chan struct{})
	go func() { runWriters(stop, 5*time.Millisecond, wa, wb); close(writersDone) }()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-writersDone
	}()

	waitKeys := func(d *daemonProc, n int64) int64 {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			k := spaceKeys(d, "garden")
			if k >= n || time.Now().After(deadline) {
				return k
			}
			time.Sleep(2 * time.Millisecond) // poll interval
		}
	}
	restart := func(which string, h *home, d **daemonProc, other *daemonProc) {
		start := time.Now()
		killDaemon(t, *d)
		nd := startDaemon(t, h, loopbackDaemon...)
		mu.Lock()
		*d = nd
		mu.Unlock()
		connect(which, nd, other)
		t.Logf("%s killed, restarted and connected in %.2fs", which, time.Since(start).Seconds())
	}

	k := waitKeys(db, int64(5_000+r.IntN(50_000)))
	t.Logf("B holds %d keys %.2fs into its catch-up: killing B", k, time.Since(catchUp).Seconds())
	restart("B", b, &db, da)
	k = waitKeys(db, min(k+int64(5_000+r.IntN(30_000)), importLines-5_000))
	t.Logf("B holds %d keys: killing A", k)
	restart("A", a, &da, db)
	k = waitKeys(db, importLines)
	t.Logf("B holds %d keys %.2fs after its catch-up began", k, time.Since(catchUp).Seconds())
	// Live writes on the restarted pair, then stop.
	for deadline := time.Now().Add(time.Minute); wa.Acked() < 200 || wb.Acked() < 200; {
		if time.Now().After(deadline) {
			t.Fatalf("the writers made %d and %d acknowledged writes within a minute, want 200 each", wa.Acked(), wb.Acked())
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	close(stop)
	<-writersDone
	t.Logf("writers: a %d acknowledged of %d (last error: %v), b %d of %d (last error: %v)", wa.Acked(), wa.order, wa.lastErr, wb.Acked(), wb.order, wb.lastErr)
	clients := map[string]*api.Client{"A": da.client, "B": db.client}
	took := waitConverged(t, 2*time.Minute, "garden", clients)
	t.Logf("converged %.2fs after the writers stopped", took.Seconds())
	checkReplicas(t, check, "garden", clients)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, c := range clients {
		if _, err := c.Verify(ctx, "garden"); err != nil {
			t.Errorf("%s: log verify: %v", name, err)
		}
	}
	db.stop(t)
	da.stop(t)
}
