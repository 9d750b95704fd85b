package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// interopDir holds the js-libp2p interop script and its npm packages.
var interopDir = filepath.Join("..", "..", "interop", "js")

// interopRequiredEnv, set to 1 (.ci/run does once 'npm ci' has run), makes
// TestJSInterop fail instead of skipping when it cannot run.
const interopRequiredEnv = "LOAM_INTEROP_REQUIRED"

// skipInterop skips the test, or fails it if $LOAM_INTEROP_REQUIRED is 1.
func skipInterop(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(interopRequiredEnv) == "1" {
		t.Fatalf("%s, and %s=1", why, interopRequiredEnv)
	}
	t.Skip(why)
}

// TestJSInterop: a js-libp2p node (interop/js/identify.mjs: TCP, Noise,
// Yamux) dials a Loam daemon over TCP, pings it and identifies it: it sees
// the agent loam/VERSION, VERSION being what 'loam version' prints, and
// the /loam/sync/1 and /loam/blob/1 protocols.
func TestJSInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		skipInterop(t, "skipped: no node (Node.js 20 or later) on PATH; install it (apt-get install nodejs npm) and run 'npm ci' in interop/js")
	}
	out, err := exec.Command(node, "--version").Output()
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".")
	if v, perr := strconv.Atoi(major); err != nil || perr != nil || v < 20 {
		skipInterop(t, "skipped: js-libp2p 3 needs Node.js 20 or later; node --version says "+strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "libp2p")); err != nil {
		skipInterop(t, "skipped: interop/js has no node_modules; run 'npm ci' in interop/js (.ci/run does)")
	}
	t.Parallel()
	h := newHome(t)
	d := startDaemon(t, h, loopbackDaemon...)
	var v struct {
		Version string `json:"version"`
	}
	h.okJSON(&v, "version", "--json")
	var addr string
	for _, a := range d.info.Addrs {
		if strings.Contains(a, "/tcp/") {
			addr = a
		}
	}
	if addr == "" {
		t.Fatalf("the daemon listens on no TCP address: %v", d.info.Addrs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "identify.mjs", addr)
	cmd.Dir = interopDir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("node identify.mjs %s: %v\n%s", addr, err, stderr.String())
	}
	var id struct {
		AgentVersion string   `json:"agentVersion"`
		Protocols    []string `json:"protocols"`
		RTT          float64  `json:"rttMs"`
	}
	if err := json.Unmarshal(out, &id); err != nil {
		t.Fatalf("identify.mjs printed %q: %v", out, err)
	}
	if want := "loam/" + v.Version; id.AgentVersion != want {
		t.Errorf("js-libp2p sees agent %q, want %q", id.AgentVersion, want)
	}
	for _, p := range []string{"/loam/sync/1", "/loam/blob/1", "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"} {
		if !slices.Contains(id.Protocols, p) {
			t.Errorf("js-libp2p does not see protocol %s among %v", p, id.Protocols)
		}
	}
	t.Logf("js-libp2p identified %s: agent %s, ping %v ms, protocols %v", d.info.Peer, id.AgentVersion, id.RTT, id.Protocols)
}
