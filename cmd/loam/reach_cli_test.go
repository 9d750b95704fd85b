package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/testkit"
)

// startBootstrap starts 'loam bootstrap' in h with args, waits for its
// daemon.json and returns its addresses.
func startBootstrap(t *testing.T, h *home, args ...string) []string {
	t.Helper()
	out := &testkit.SyncBuffer{}
	cmd := exec.Command(loamBin, append([]string{"bootstrap"}, args...)...)
	cmd.Env = env(h.dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		if !terminate(cmd, done) {
			t.Errorf("loam bootstrap did not stop on SIGTERM:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(h.dir, api.DaemonFile)); err == nil {
			t.Errorf("loam bootstrap left its daemon.json")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(h.dir, api.DaemonFile))
		var info api.DaemonInfo
		if err == nil && json.Unmarshal(b, &info) == nil && info.PID == cmd.Process.Pid {
			if !info.Bootstrap || info.API != "" || len(info.Addrs) == 0 {
				t.Fatalf("bootstrap daemon.json: %s", b)
			}
			return info.Addrs
		}
		select {
		case <-done:
			t.Fatalf("loam bootstrap exited before it was ready:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("loam bootstrap wrote no daemon.json within 30 s:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond) // re-check interval
	}
}

// TestBootstrapAndDoctor: two daemons on loopback that know only a
// bootstrap node (private DHT) report it in 'loam doctor', and a ticket
// without addresses is enough to join.
func TestBootstrapAndDoctor(t *testing.T) {
	bh := &home{t: t, dir: t.TempDir()}
	addrs := startBootstrap(t, bh, "--dht", "private", "--listen", "/ip4/127.0.0.1/tcp/0")
	if !strings.Contains(bh.fail(1, "", "status"), "bootstrap node") {
		t.Errorf("status in a bootstrap node's home does not say so")
	}
	daemonArgs := []string{"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false", "--dht", "private", "--bootstrap", addrs[0]}
	a, b := newHome(t), newHome(t)
	startDaemon(t, a, daemonArgs...)
	startDaemon(t, b, daemonArgs...)

	var d api.Doctor
	a.okJSON(&d, "doctor", "--json")
	if d.DHT != "private" || len(d.Bootstrap) != 1 {
		t.Errorf("doctor: %+v", d)
	}
	a.ok("", "space", "create", "garden")
	a.ok("", "put", "garden", "tools/drill", "cordless")
	ticket := strings.TrimSpace(a.ok("", "invite", "garden"))
	b.timeout = 60 * time.Second
	b.ok("", "join", stripAddrs(t, ticket))
	if got := strings.TrimSpace(b.ok("", "get", "garden", "tools/drill")); got != "cordless" {
		t.Errorf("get after join: %q", got)
	}
	text := b.ok("", "doctor")
	for _, want := range []string{"DHT:           private, 1 server(s)", "Bootstrap:     1 of 1 connected", "syncing with 12D3Koo"} {
		if !strings.Contains(text, want) {
			t.Errorf("doctor does not say %q:\n%s", want, text)
		}
	}
	b.okJSON(&d, "doctor", "--json")
	if len(d.Spaces) != 1 || len(d.Spaces[0].Found) != 1 || len(d.Connections) < 1 {
		t.Errorf("doctor after join: %+v", d)
	}
	if !strings.Contains(a.ok("", "doctor", "--help"), "--json") || !strings.Contains(a.ok("", "bootstrap", "--help"), "--listen") {
		t.Error("doctor or bootstrap --help lacks its flags")
	}
	if line := a.fail(2, "", "daemon", "--dht", "private"); !strings.Contains(line, "--bootstrap") {
		t.Errorf("--dht private without --bootstrap: %q", line)
	}
	if line := a.fail(2, "", "daemon", "--dht", "dht"); !strings.Contains(line, "amino") {
		t.Errorf("--dht dht: %q", line)
	}
}

// stripAddrs returns ticket without its addresses: the joining node must
// find the inviting one by itself.
func stripAddrs(t *testing.T, ticket string) string {
	t.Helper()
	tk, err := keys.ParseTicket(ticket)
	if err != nil {
		t.Fatalf("ticket %q: %v", ticket, err)
	}
	tk.Addrs = nil
	return tk.String()
}
