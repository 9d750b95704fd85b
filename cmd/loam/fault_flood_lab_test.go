package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/ackcheck"
	"github.com/loamdb/loam/internal/netlab"
	"github.com/loamdb/loam/internal/testkit"
)

// buildP2PTests builds internal/p2p's test binary, whose
// TestBootstrapUnderFlood, run with LOAM_FLOOD_ROLE=attacker, is the
// flood attacker.
func buildP2PTests(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "p2p.test")
	out, err := exec.Command("go", "test", "-c", "-o", bin, "../../internal/p2p").CombinedOutput()
	if err != nil {
		t.Fatalf("go test -c ./internal/p2p: %v\n%s", err, out)
	}
	return bin
}

// floodAttacker is internal/p2p's flood attacker process.
type floodAttacker struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	lines chan string        // its "FLOOD what JSON" lines, without the prefix
	out   testkit.SyncBuffer // everything else it printed
	done  chan struct{}
}

// startFloodAttacker runs the attacker of internal/p2p's
// TestBootstrapUnderFlood in namespace ns against the peer at addrs (with
// /p2p/), until stop.
func startFloodAttacker(t *testing.T, lab *netlab.Lab, ns, bin string, addrs []string) *floodAttacker {
	t.Helper()
	a := &floodAttacker{lines: make(chan string, 16), done: make(chan struct{})}
	a.cmd = lab.Command(context.Background(), ns, bin, "-test.run=^TestBootstrapUnderFlood$", "-test.count=1", "-test.v")
	a.cmd.Dir = "../../internal/p2p"
	a.cmd.Env = append(os.Environ(), "LOAM_FLOOD_ROLE=attacker", "LOAM_FLOOD_BOOT="+strings.Join(addrs, " "))
	stdin, err := a.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.stdin = stdin
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.cmd.Stderr = &a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(a.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "FLOOD "); ok {
				a.lines <- rest
			} else {
				a.out.Write([]byte(sc.Text() + "\n"))
			}
		}
	}()
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// read waits for the attacker's line what and returns its JSON.
func (a *floodAttacker) read(t *testing.T, what string) map[string]any {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case line, ok := <-a.lines:
			if !ok {
				t.Fatalf("the attacker ended before saying %q:\n%s", what, a.out.String())
			}
			k, js, _ := strings.Cut(line, " ")
			if k != what {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(js), &v); err != nil {
				t.Fatalf("the attacker's %s: %v", what, err)
			}
			return v
		case <-timeout:
			t.Fatalf("the attacker did not say %q within 3 minutes:\n%s", what, a.out.String())
		}
	}
}

// TestFloodFromOneAddress is a resource-exhaustion test of the fault
// suite (docs/reliability.md): an ordinary daemon with a public address
// (netlab) is flooded from one address, a home behind a NAT, by the
// attacker of internal/p2p's TestBootstrapUnderFlood: 300 peer identities,
// each keeping 256 requests in flight (DHT requests, relay reservations,
// identify, unknown protocols, streams that never negotiate), reconnecting
// whenever refused. The daemon's RSS must stay under 300 MB, and an honest
// daemon, with a public address of its own, keeps syncing with it: each
// honest write crosses within 10 s; afterwards both converge and hold
// every acknowledged write. Needs root, ip, nft (netlab).
func TestFloodFromOneAddress(t *testing.T) {
	netlab.SkipIfMissing(t)
	if testing.Short() {
		t.Skip("skipped with -short: a 15-second flood in network namespaces")
	}
	attackerBin := buildP2PTests(t)
	lab := netlab.New(t, 1)
	var nodes [2]*labNode
	var addrs [2][]string
	for i := range nodes {
		n, _ := publicDaemon(t, lab)
		nodes[i] = n
		for _, tr := range []string{"/tcp/", "/quic-v1"} {
			addrs[i] = append(addrs[i], publicAddr(t, n, tr))
		}
	}
	a, b := nodes[0], nodes[1]
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", a.proc.Process.Pid)); strings.TrimSpace(string(comm)) != "loam" {
		t.Fatalf("process %d is %q, not the daemon: its RSS would say nothing", a.proc.Process.Pid, comm)
	}
	v := &victim{ca: labClient(t, a), cb: labClient(t, b), pid: a.proc.Process.Pid, check: ackcheck.New()}
	id := strings.TrimSpace(a.cli(30*time.Second, "space", "create", "garden"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ticket, err := v.ca.Invite(ctx, "garden", "write", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.cb.Join(ctx, ticket); err != nil {
		t.Fatal(err)
	}
	v.ready(t, id, a.status().Peer)

	attacker := startFloodAttacker(t, lab, lab.Homes[0].Host, attackerBin, addrs[0])
	started := attacker.read(t, "flooding")
	t.Logf("the flood is on from %s: %v", lab.Homes[0].WAN, started)
	var once sync.Once
	v.underAttack(t, floodDuration(t), func(ctx context.Context) {
		<-ctx.Done()
		once.Do(func() { attacker.stdin.Close() })
	})
	report := attacker.read(t, "attacker")
	t.Logf("the attacker's report: %v", report)
	if n, _ := report["Connected"].(float64); n == 0 {
		t.Errorf("no attacker identity connected: the flood proved nothing")
	}
}
