package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/testkit"
)

// loopbackDaemon are the flags of a test daemon: loopback only, free ports,
// no mDNS (so test daemons do not find each other, or anything else).
var loopbackDaemon = []string{"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false", "--dht", "off"}

// daemonProc is a 'loam daemon' process.
type daemonProc struct {
	h      *home
	cmd    *exec.Cmd
	out    *testkit.SyncBuffer // stdout and stderr
	done   chan struct{}
	err    error // of Wait, once done is closed
	info   api.DaemonInfo
	client *api.Client
}

// startDaemon starts 'loam daemon' in h with args and waits until it has
// written its daemon.json.
func startDaemon(t *testing.T, h *home, args ...string) *daemonProc {
	t.Helper()
	return startDaemonTo(t, h, nil, args...)
}

// startDaemonTo is startDaemon with the daemon's stderr (its log) in
// stderr, apart from its stdout, unless stderr is nil.
func startDaemonTo(t *testing.T, h *home, stderr *testkit.SyncBuffer, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{h: h, out: &testkit.SyncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(loamBin, append([]string{"daemon"}, args...)...)
	d.cmd.Env = env(h.dir)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if stderr != nil {
		d.cmd.Stderr = stderr
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := api.ReadDaemonInfo(h.dir)
		if err == nil && info.PID == d.cmd.Process.Pid {
			d.info = info
			break
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case <-d.done:
			t.Fatalf("loam daemon exited before it was ready: %v\n%s%s", d.err, d.out, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("loam daemon wrote no daemon.json within 30 s:\n%s", d.out)
		}
		time.Sleep(20 * time.Millisecond) // re-check interval
	}
	tok, err := api.LoadToken(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	d.client = api.NewClient(d.info.API, tok)
	return d
}

// stop sends SIGTERM and checks that the daemon exits 0 and removes
// daemon.json.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("loam daemon did not stop within 30 s of SIGTERM:\n%s", d.out)
	}
	if d.err != nil {
		t.Errorf("loam daemon after SIGTERM: %v\n%s", d.err, d.out)
	}
	if _, err := os.Stat(filepath.Join(d.h.dir, api.DaemonFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("daemon.json is still there after the daemon stopped: %v", err)
	}
}

// terminate sends cmd SIGTERM and waits up to 20 s for done (closed once
// cmd has exited), then kills it. It reports whether cmd stopped on
// SIGTERM.
func terminate(cmd *exec.Cmd, done <-chan struct{}) bool {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return true
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		return false
	}
}

// watcher is a 'loam watch --json' process.
type watcher struct {
	cmd   *exec.Cmd
	lines chan string // stdout, line by line
}

// startWatch starts 'loam watch SPACE --json' in h with args and waits
// until it watches.
func startWatch(t *testing.T, h *home, args ...string) *watcher {
	t.Helper()
	w := &watcher{lines: make(chan string, 100)}
	w.cmd = exec.Command(loamBin, append([]string{"watch", "--json"}, args...)...)
	w.cmd.Env = env(h.dir)
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Kill(); w.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	awaitWatching(t, stderr, "watching ")
	return w
}

// awaitWatching waits up to 20 s for the first line of a 'loam watch'
// process's stderr, fails the test unless it starts with prefix, and
// drains the rest.
func awaitWatching(t *testing.T, stderr io.Reader, prefix string) {
	t.Helper()
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stderr).ReadString('\n')
		first <- line
		io.Copy(io.Discard, stderr)
	}()
	select {
	case line := <-first:
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("watch said %q", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not start")
	}
}

// next returns the next change the watch printed.
func (w *watcher) next(t *testing.T, within time.Duration) api.Entry {
	t.Helper()
	select {
	case line, ok := <-w.lines:
		if !ok {
			t.Fatal("watch ended")
		}
		var e api.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("watch printed %q: %v", line, err)
		}
		return e
	case <-time.After(within):
		t.Fatalf("watch printed nothing within %s", within)
	}
	return api.Entry{}
}

// stop interrupts the watch and checks it exits 0.
func (w *watcher) stop(t *testing.T) {
	t.Helper()
	w.cmd.Process.Signal(syscall.SIGINT)
	waitInterrupted(t, w.cmd)
}

// waitInterrupted waits for cmd, a 'loam watch' sent SIGINT, to end, and
// checks that it ends within 20 s and exits 0.
func waitInterrupted(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch after SIGINT: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not stop on SIGINT")
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestDaemonLifecycle: the daemon starts, announces itself in daemon.json,
// serves every data command while it holds the store, and stops cleanly on
// SIGTERM.
func TestDaemonLifecycle(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	if line := h.fail(1, "", "peers"); !strings.Contains(line, "no daemon runs for "+h.dir+": start one with 'loam daemon'") {
		t.Errorf("peers without a daemon: %q", line)
	}
	h.fail(1, "", "status")
	if line := h.fail(1, "", "invite", "garden"); !strings.Contains(line, "no daemon runs") {
		t.Errorf("invite without a daemon: %q", line)
	}
	if line := h.fail(2, "", "daemon", "--api", "0.0.0.0:7777"); !strings.Contains(line, "not a loopback") {
		t.Errorf("non-loopback --api: %q", line)
	}
	if line := h.fail(2, "", "daemon", "--api", "192.168.1.1:0"); !strings.Contains(line, "not a loopback") {
		t.Errorf("non-loopback --api: %q", line)
	}

	d := startDaemon(t, h, loopbackDaemon...)
	if !strings.HasPrefix(d.info.Peer, "12D3Koo") || len(d.info.Addrs) == 0 ||
		!strings.HasPrefix(d.info.API, "127.0.0.1:") || strings.HasSuffix(d.info.API, ":0") {
		t.Errorf("daemon.json: %+v", d.info)
	}
	for _, f := range []string{api.DaemonFile, api.TokenFile} {
		if m := fileMode(t, filepath.Join(h.dir, f)); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, m)
		}
	}
	// The banner follows daemon.json, through a pipe: wait for its end.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.out.String(), "ready; stop with Ctrl-C") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // re-check interval
	}
	out := d.out.String()
	if !strings.Contains(out, d.info.API) || !strings.Contains(out, d.info.Addrs[0]) {
		t.Errorf("the daemon did not print its addresses:\n%s", out)
	}

	// A second daemon for the home fails: the first holds the store.
	if line := h.fail(1, "", append([]string{"daemon"}, loopbackDaemon...)...); !strings.Contains(line, "in use") {
		t.Errorf("second daemon: %q", line)
	}

	// Every data command works while the daemon holds the store: it goes
	// through the daemon (opening the store directly would fail "in use").
	id := strings.TrimSpace(h.ok("", "space", "create", "garden"))
	if !strings.HasPrefix(id, "spc_") {
		t.Fatalf("space create: %q", id)
	}
	if line := h.fail(1, "", "space", "create", "garden"); !strings.Contains(line, "choose another name") {
		t.Errorf("taken name through the daemon: %q", line)
	}
	if out := h.ok("", "space", "ls"); !strings.Contains(out, id) {
		t.Errorf("space ls: %q", out)
	}
	w := startWatch(t, h, "garden", "--prefix", "tools/")
	h.ok("", "put", "garden", "tools/drill", "cordless, 18V")
	h.ok("\x00\x01\xff", "put", "garden", "tools/a b/../c", "-")
	if got := h.ok("", "get", "garden", "tools/drill"); got != "cordless, 18V" {
		t.Errorf("get: %q", got)
	}
	if got := h.ok("", "get", id, "tools/a b/../c"); got != "\x00\x01\xff" {
		t.Errorf("get of a binary value by a tricky key: %q", got)
	}
	if e := w.next(t, 10*time.Second); e.Op != "put" || *e.Key != "tools/drill" || *e.Value != "cordless, 18V" {
		t.Errorf("watch: %+v", e)
	}
	if e := w.next(t, 10*time.Second); e.Op != "put" || *e.Key != "tools/a b/../c" || e.ValueB64 == nil {
		t.Errorf("watch: %+v", e)
	}
	h.ok("", "del", "garden", "tools/a b/../c")
	if e := w.next(t, 10*time.Second); e.Op != "del" || *e.Key != "tools/a b/../c" || e.Value != nil {
		t.Errorf("watch: %+v", e)
	}
	w.stop(t)
	if line := h.fail(1, "", "get", "garden", "tools/a b/../c"); !strings.Contains(line, "not found in space garden") {
		t.Errorf("get after del: %q", line)
	}
	if line := h.fail(1, "", "del", "garden", "tools/nope"); !strings.Contains(line, "not found") {
		t.Errorf("del of a missing key: %q", line)
	}
	if line := h.fail(1, "", "get", "nope", "k"); !strings.Contains(line, "loam space ls") {
		t.Errorf("unknown space: %q", line)
	}
	if line := h.fail(1, "", "import", "nope"); !strings.Contains(line, "unknown space") || strings.Contains(line, "line") {
		t.Errorf("import into an unknown space: %q", line)
	}

	// Import posts batches; a bad line stops it with the same report as
	// without a daemon.
	var in strings.Builder
	for i := range 1700 {
		fmt.Fprintf(&in, `{"key":"k/%05d","value":"v%d"}`+"\n", i, i)
	}
	line := h.fail(1, in.String()+`{"key":""}`+"\n", "import", "garden")
	for _, want := range []string{"import: line 1701: ", "nothing of lines 1001-1701 was imported", "(lines 1-1000 were)"} {
		if !strings.Contains(line, want) {
			t.Errorf("import error %q lacks %q", line, want)
		}
	}
	h.ok(in.String(), "import", "garden")
	exported := h.ok("", "export", "garden", "--prefix", "k/")
	if exported != in.String() {
		t.Errorf("export after import: %d lines, want 1700", strings.Count(exported, "\n"))
	}
	if got := h.ok("", "ls", "garden", "--prefix", "k/", "--reverse", "--limit", "2"); got != "k/01699\tv1699\nk/01698\tv1698\n" {
		t.Errorf("ls: %q", got)
	}
	if out := h.ok("", "log", "verify", "garden"); !verifiedRE.MatchString(out) {
		t.Errorf("log verify: %q", out)
	}
	if ticket := h.ok("", "invite", "garden"); !strings.HasPrefix(ticket, "loam2") {
		t.Errorf("invite: %q", ticket)
	}
	if line := h.fail(2, "", "invite", "garden", "--role", "boss"); !strings.Contains(line, "--role") {
		t.Errorf("invite --role boss: %q", line)
	}
	if out := strings.TrimSpace(h.ok("", "peers", "--json")); out != "[]" {
		t.Errorf("peers --json: %q", out)
	}
	var st api.Status
	h.okJSON(&st, "status", "--json")
	if st.Peer != d.info.Peer || len(st.Spaces) != 1 || st.Spaces[0].Name != "garden" || st.Spaces[0].Keys != 1701 ||
		st.Spaces[0].Commits < 5 || len(st.Spaces[0].Heads) != 2 {
		t.Errorf("status --json: %+v", st)
	}
	if out := h.ok("", "status"); !strings.Contains(out, "garden  "+id) || !strings.Contains(out, "1701 keys") {
		t.Errorf("status:\n%s", out)
	}

	d.stop(t)
	if out := d.out.String(); !strings.Contains(out, "stopping") {
		t.Errorf("the daemon's output:\n%s", out)
	}
	// The store is free again, and holds what was written through the daemon.
	if got := h.ok("", "get", "garden", "tools/drill"); got != "cordless, 18V" {
		t.Errorf("get without the daemon: %q", got)
	}
}

// TestStaleDaemonFile: a daemon.json whose daemon does not answer is
// ignored with a note, and the command opens the store directly.
func TestStaleDaemonFile(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "put", "garden", "k", "v")
	if err := api.WriteDaemonInfo(h.dir, api.DaemonInfo{API: "127.0.0.1:1", Peer: "12D3KooWgone", PID: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.LoadOrCreateToken(h.dir); err != nil {
		t.Fatal(err)
	}
	r := h.run("", "get", "garden", "k")
	if r.code != 0 || r.stdout != "v" {
		t.Fatalf("get with a stale daemon.json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "loam: note: ignoring ") || !strings.Contains(lines[0], "does not answer") {
		t.Errorf("the note: %q", r.stderr)
	}
	if line := h.fail(1, "", "status"); !strings.Contains(line, "no daemon runs") || !strings.Contains(line, "does not answer") {
		t.Errorf("status with a stale daemon.json: %q", line)
	}
	// A daemon that starts replaces the stale file.
	d := startDaemon(t, h, loopbackDaemon...)
	if d.info.API == "127.0.0.1:1" {
		t.Fatal("the daemon kept the stale daemon.json")
	}
	if r := h.run("", "get", "garden", "k"); r.code != 0 || r.stdout != "v" || r.stderr != "" {
		t.Errorf("get through the daemon: %+v", r)
	}
	d.stop(t)
}

// spaceStatus returns the status of space name from the daemon of h.
func spaceStatus(t *testing.T, h *home, name string) api.SpaceStatus {
	t.Helper()
	var st api.Status
	h.okJSON(&st, "status", "--json")
	for _, s := range st.Spaces {
		if s.Name == name {
			return s
		}
	}
	return api.SpaceStatus{}
}

// liveWrite puts key on from and returns how long after the put started
// the watch on the other side printed it; then it checks that 'loam get'
// on to sees it.
func liveWrite(t *testing.T, from, to *home, w *watcher, key string) time.Duration {
	t.Helper()
	value := "written at " + time.Now().Format(time.RFC3339Nano)
	start := time.Now()
	from.ok("", "put", "garden", key, value)
	e := w.next(t, 10*time.Second)
	latency := time.Since(start)
	if e.Op != "put" || *e.Key != key || *e.Value != value {
		t.Errorf("the other side saw %+v", e)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := to.run("", "get", "garden", key)
		if r.code == 0 && r.stdout == value {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("loam get %s on the other side: %+v", key, r)
		}
		time.Sleep(10 * time.Millisecond) // re-check interval
	}
	return latency
}

// TestTwoDaemons: two daemons as separate processes on loopback. B joins
// A's space by ticket, 100,000 ops imported on A reach B (the exports are
// identical), and a write on either shows on the other at once.
func TestTwoDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: runs two daemon processes and syncs 100,000 ops (about 10 s)")
	}
	t.Parallel()
	a, b := newHome(t), newHome(t)
	a.timeout, b.timeout = 2*time.Minute, 2*time.Minute
	da := startDaemon(t, a, loopbackDaemon...)
	db := startDaemon(t, b, loopbackDaemon...)

	id := strings.TrimSpace(a.ok("", "space", "create", "garden"))
	ticket := strings.TrimSpace(a.ok("", "invite", "garden"))
	started := time.Now()
	if out := b.ok("", "join", ticket); !strings.Contains(out, "joined garden ("+id+")") {
		t.Fatalf("join: %q", out)
	}
	t.Logf("join took %s", time.Since(started).Round(time.Millisecond))

	// 100,000 puts of 100-byte values, imported on A in commits of 1,000.
	var in strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&in, `{"key":"item/%06d","value":"%s"}`+"\n", i, strings.Repeat(string(rune('a'+i%26)), 100))
	}
	started = time.Now()
	a.ok(in.String(), "import", "garden")
	t.Logf("import of 100,000 ops on A took %s", time.Since(started).Round(time.Millisecond))

	want := spaceStatus(t, a, "garden")
	deadline := time.Now().Add(120 * time.Second)
	for {
		got := spaceStatus(t, b, "garden")
		if got.ViewHash == want.ViewHash && got.Commits == want.Commits {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B did not catch up within 120 s: A %d commits, %d keys; B %d commits, %d keys",
				want.Commits, want.Keys, got.Commits, got.Keys)
		}
		time.Sleep(100 * time.Millisecond) // re-check interval
	}
	t.Logf("B had A's %d commits and %d keys %s after the import started", want.Commits, want.Keys, time.Since(started).Round(time.Millisecond))
	ea, eb := a.ok("", "export", "garden"), b.ok("", "export", "garden")
	if ea != in.String() {
		t.Errorf("A's export differs from what was imported (%d lines)", strings.Count(ea, "\n"))
	}
	if ea != eb {
		t.Fatalf("the exports differ: A %d lines, B %d lines", strings.Count(ea, "\n"), strings.Count(eb, "\n"))
	}

	// Live writes both ways.
	wb := startWatch(t, b, "garden", "--prefix", "live/")
	wa := startWatch(t, a, "garden", "--prefix", "live/")
	for i := range 3 {
		ab := liveWrite(t, a, b, wb, fmt.Sprintf("live/from-a/%d", i))
		if e := wa.next(t, 10*time.Second); *e.Key != fmt.Sprintf("live/from-a/%d", i) {
			t.Errorf("A's own watch: %+v", e)
		}
		ba := liveWrite(t, b, a, wa, fmt.Sprintf("live/from-b/%d", i))
		if e := wb.next(t, 10*time.Second); *e.Key != fmt.Sprintf("live/from-b/%d", i) {
			t.Errorf("B's own watch: %+v", e)
		}
		// The latency includes starting the 'loam put' process.
		t.Logf("write to visible on the other daemon (from the start of 'loam put'): A→B %s, B→A %s",
			ab.Round(time.Microsecond), ba.Round(time.Microsecond))
		if ab > 5*time.Second || ba > 5*time.Second {
			t.Errorf("a live write took more than 5 s to reach the other daemon")
		}
	}
	wa.stop(t)
	wb.stop(t)

	var peers []api.Peer
	b.okJSON(&peers, "peers", "--json")
	if len(peers) != 1 || peers[0].Peer != da.info.Peer || !peers[0].Direct || len(peers[0].Spaces) != 1 || peers[0].Spaces[0] != id {
		t.Errorf("B's peers: %+v", peers)
	}
	if out := a.ok("", "peers"); !strings.Contains(out, db.info.Peer) || !strings.Contains(out, "direct") || !strings.Contains(out, "garden") {
		t.Errorf("A's peers:\n%s", out)
	}
	db.stop(t)
	da.stop(t)
}

// TestJoinWithoutDaemon: without a daemon, join runs a node of its own
// until the space has arrived, and says to run the daemon.
func TestJoinWithoutDaemon(t *testing.T) {
	t.Parallel()
	a, b := newHome(t), newHome(t)
	startDaemon(t, a, loopbackDaemon...)
	id := strings.TrimSpace(a.ok("", "space", "create", "garden"))
	a.ok("", "put", "garden", "tools/drill", "cordless")
	ticket := strings.TrimSpace(a.ok("", "invite", "garden", "--role", "write", "--expires", "1h"))

	if line := b.fail(1, "", "join", "loam2garbage"); !strings.Contains(line, "the ticket is mistyped: copy it again") {
		t.Errorf("bad ticket: %q", line)
	}
	r := b.joinJSON("join", ticket, id, "garden")
	if !strings.Contains(r.stderr, "run 'loam daemon' to keep garden in sync") {
		t.Errorf("join said %q", r.stderr)
	}
	// The space is here, offline, and writable.
	if got := b.ok("", "get", "garden", "tools/drill"); got != "cordless" {
		t.Errorf("get after join: %q", got)
	}
	b.ok("", "put", "garden", "tools/saw", "hand saw")
	// A has B's join: B is a member, so B's daemon will sync.
	var st api.Status
	a.okJSON(&st, "status", "--json")
	if len(st.Spaces) != 1 || len(st.Spaces[0].Heads) != 3 {
		t.Errorf("A's status after B's join (want heads of the space key, A and B): %+v", st.Spaces)
	}
}

// TestRelayServiceWarnsWithoutPublicAddress: a relay service on a machine
// without a public address says that NATed peers cannot use it.
func TestRelayServiceWarnsWithoutPublicAddress(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	d := startDaemon(t, h, append(loopbackDaemon, "--relay-service")...)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.out.String(), "ready;") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner within 30 s:\n%s", d.out)
		}
		time.Sleep(20 * time.Millisecond) // re-check interval
	}
	if !strings.Contains(d.out.String(), "warning: --relay-service, but none of these addresses is public") {
		t.Errorf("no warning for a relay on loopback:\n%s", d.out)
	}
	d.stop(t)
}
