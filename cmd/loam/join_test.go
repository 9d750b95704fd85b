package main

import (
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/testkit"
)

// unreachableBootstrap returns the flags of a daemon with a private DHT
// whose only bootstrap node is a closed port on loopback: the daemon can
// look peers up (so a join goes on past a ticket whose peers are down)
// but finds nobody, and nothing leaves the machine.
func unreachableBootstrap(t *testing.T) []string {
	t.Helper()
	k, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false",
		"--dht", "private", "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/" + p2p.PeerIDString(k.Author())}
}

// TestMistypedTicket is issue 10 F through the CLI: a ticket with one
// character changed is refused at once, with and without a daemon, saying
// it is mistyped, and a join that fails later (the inviter gone) leaves
// 'loam space ls' as it was.
func TestMistypedTicket(t *testing.T) {
	t.Parallel()
	a, b := newHome(t), newHome(t)
	da := startDaemon(t, a, loopbackDaemon...)
	a.ok("", "space", "create", "garden")
	ticket := strings.TrimSpace(a.ok("", "invite", "garden"))
	before := b.ok("", "space", "ls", "--json")
	r := rand.New(rand.NewPCG(10, 1))
	typo := func() string {
		i := len("loam2") + r.IntN(len(ticket)-len("loam2"))
		for {
			c := "abcdefghijklmnopqrstuvwxyz234567"[r.IntN(32)]
			if c != ticket[i] {
				return ticket[:i] + string(c) + ticket[i+1:]
			}
		}
	}
	check := func(mode string) {
		for range 5 {
			tk := typo()
			started := time.Now()
			line := b.fail(1, "", "join", tk, "--timeout", "10m")
			if !strings.Contains(line, "the ticket is mistyped: copy it again") {
				t.Errorf("%s: join of a mistyped ticket: %q", mode, line)
			}
			t.Logf("%s: refused in %s", mode, time.Since(started).Round(time.Millisecond))
			if line := b.fail(1, "", "seed", tk); !strings.Contains(line, "the ticket is mistyped: copy it again") {
				t.Errorf("%s: seed of a mistyped ticket: %q", mode, line)
			}
		}
		if after := b.ok("", "space", "ls", "--json"); after != before {
			t.Errorf("%s: space ls changed: %s", mode, after)
		}
	}
	check("without a daemon")
	db := startDaemon(t, b, unreachableBootstrap(t)...)
	check("through the daemon")

	// The inviter stops: the join waits (the daemon can look peers up),
	// gives up, and leaves nothing.
	da.stop(t)
	line := b.fail(1, "", "join", ticket, "--timeout", "2s")
	if !strings.Contains(line, "gave up after 2s") {
		t.Errorf("join with the inviter gone: %q", line)
	}
	if after := b.ok("", "space", "ls", "--json"); after != before {
		t.Errorf("space ls after a failed join: %s", after)
	}
	db.stop(t)
}

// TestJoinResumesAfterKill is issue 10 E with the real binary: a join
// through a daemon that is killed with SIGKILL in the middle resumes when
// the daemon starts again, and the device can then write ('put' no longer
// says to ask an admin).
func TestJoinResumesAfterKill(t *testing.T) {
	t.Parallel()
	a, b := newHome(t), newHome(t)
	aFlags := []string{"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/" + testkit.FreePort(t), "--mdns=false", "--dht", "off"}
	da := startDaemon(t, a, aFlags...)
	id := strings.TrimSpace(a.ok("", "space", "create", "garden"))
	a.ok("", "put", "garden", "tools/drill", "cordless")
	ticket := strings.TrimSpace(a.ok("", "invite", "garden"))
	da.stop(t) // the inviter is away: the join waits for it

	bFlags := unreachableBootstrap(t)
	db := startDaemon(t, b, bFlags...)
	join := exec.Command(loamBin, "join", ticket)
	join.Env = env(b.dir)
	if err := join.Start(); err != nil {
		t.Fatal(err)
	}
	defer join.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(b.ok("", "space", "ls"), id) {
		if time.Now().After(deadline) {
			t.Fatalf("the joining space was not held within 30 s:\n%s", db.out)
		}
		time.Sleep(20 * time.Millisecond) // re-check interval
	}
	db.cmd.Process.Kill() // SIGKILL, mid-join
	<-db.done
	join.Wait() // fails: its daemon is gone

	da = startDaemon(t, a, aFlags...)
	db = startDaemon(t, b, bFlags...)
	deadline = time.Now().Add(60 * time.Second)
	for {
		r := b.run("", "put", "garden", "tools/saw", "hand saw")
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put after the restart: exit %d: %s\ndaemon:\n%s", r.code, r.stderr, db.out)
		}
		time.Sleep(100 * time.Millisecond) // re-check interval
	}
	if got := b.ok("", "get", "garden", "tools/drill"); got != "cordless" {
		t.Errorf("get on the joiner: %q", got)
	}
	deadline = time.Now().Add(30 * time.Second)
	for a.run("", "get", "garden", "tools/saw").stdout != "hand saw" {
		if time.Now().After(deadline) {
			t.Fatal("the joiner's write did not reach the inviter within 30 s")
		}
		time.Sleep(50 * time.Millisecond) // re-check interval
	}
	db.stop(t)
	da.stop(t)
}

// TestDaemonsReconnectAfterRestart is issue 10 E with daemons: two daemons
// with neither DHT nor mDNS, that know each other from a ticket only, sync
// again after either restarts, without 'loam connect'.
func TestDaemonsReconnectAfterRestart(t *testing.T) {
	t.Parallel()
	a, b := newHome(t), newHome(t)
	da := startDaemon(t, a, loopbackDaemon...)
	db := startDaemon(t, b, loopbackDaemon...)
	a.ok("", "space", "create", "garden")
	b.ok("", "join", strings.TrimSpace(a.ok("", "invite", "garden")))
	arrives := func(on *home, key, value string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for on.run("", "get", "garden", key).stdout != value {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not arrive within 30 s", key)
			}
			time.Sleep(50 * time.Millisecond) // re-check interval
		}
	}
	db.stop(t)
	a.ok("", "put", "garden", "while-b-was-away", "1")
	db = startDaemon(t, b, loopbackDaemon...)
	arrives(b, "while-b-was-away", "1")

	da.stop(t)
	b.ok("", "put", "garden", "while-a-was-away", "2")
	da = startDaemon(t, a, loopbackDaemon...)
	arrives(a, "while-a-was-away", "2")
	db.stop(t)
	da.stop(t)
}
