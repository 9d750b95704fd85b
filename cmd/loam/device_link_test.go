package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/testkit"
)

// p2pAddr returns the daemon's first loopback address with /p2p/.
func p2pAddr(t *testing.T, d *daemonProc) string {
	t.Helper()
	for _, a := range d.info.Addrs {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/") {
			if !strings.Contains(a, "/p2p/") {
				a += "/p2p/" + d.info.Peer
			}
			return a
		}
	}
	t.Fatalf("no loopback address in %v", d.info.Addrs)
	return ""
}

// TestDeviceLinkCLI: 'loam device link' on Ana's laptop, 'loam device add'
// on her server: the server holds her private space and writes there; a
// used ticket, a missing daemon and a bad phrase each fail with a clear
// error; 'loam id recover' reads the phrase from standard input and gets
// the spaces back from the laptop.
func TestDeviceLinkCLI(t *testing.T) {
	t.Parallel()
	laptop, server, other, fresh := newHome(t), newHome(t), newHome(t), newHome(t)
	if r := server.run("", "device", "add", "loam2aaaa"); r.code == 0 || !strings.Contains(r.stderr, "start one with 'loam daemon'") {
		t.Errorf("device add without a daemon: exit %d, %q", r.code, r.stderr)
	}
	dl := startDaemon(t, laptop, loopbackDaemon...)
	for _, h := range []*home{server, other, fresh} {
		startDaemon(t, h, loopbackDaemon...)
	}
	var created struct{ Phrase string }
	laptop.okJSON(&created, "id", "create", "--name", "Ana", "--device", "laptop", "--json")
	laptop.ok("", "space", "create", "diary", "--private")
	laptop.ok("", "put", "diary", "day/1", "sunny")
	if r := laptop.run("", "device", "link", "--no-wait", "--no-qr"); r.code != 0 || !strings.Contains(r.stdout, "loam device add loam2") {
		t.Fatalf("device link: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := laptop.ok("", "device", "link", "--no-wait")
	if !strings.Contains(out, "▀") && !strings.Contains(out, "█") {
		t.Errorf("device link prints no QR code:\n%s", out)
	}
	var lt struct {
		Ticket  string
		Expires time.Time
	}
	laptop.okJSON(&lt, "device", "link", "--no-wait", "--json")
	if !strings.HasPrefix(lt.Ticket, "loam2") || time.Until(lt.Expires) < 9*time.Minute {
		t.Fatalf("device link --json: %+v", lt)
	}
	var id struct {
		ID, Name string
		Device   struct{ Name string }
	}
	if err := json.Unmarshal([]byte(server.ok("", "device", "add", lt.Ticket, "--device", "server", "--json")), &id); err != nil || id.Name != "Ana" || id.Device.Name != "server" {
		t.Fatalf("device add --json: %+v, %v", id, err)
	}
	if !testkit.Poll(60*time.Second, 50*time.Millisecond, func() bool {
		return server.run("", "put", "diary", "day/2", "rain").code == 0
	}) {
		t.Fatalf("the server does not write in Ana's diary:\n%s", server.run("", "space", "ls").stdout)
	}
	if !testkit.Poll(30*time.Second, 50*time.Millisecond, func() bool {
		return strings.TrimSpace(laptop.run("", "get", "diary", "day/2").stdout) == "rain"
	}) {
		t.Fatal("the server's write does not reach the laptop")
	}
	// One person, Ana, with two devices: in 'loam members --json' and in
	// GET /v1/spaces/diary/members, on both homes; each write by a device
	// of hers.
	type row struct {
		Author, Identity, Name, Person string
		Devices                        []struct{ Author, Name, Person string }
	}
	annaRow := func(rows []row) *row {
		for i := range rows {
			if rows[i].Identity != "" && rows[i].Identity == rows[i].Author {
				return &rows[i]
			}
		}
		return nil
	}
	for _, h := range []*home{laptop, server} {
		var rows []row
		if !testkit.Poll(30*time.Second, 50*time.Millisecond, func() bool {
			rows = nil
			if json.Unmarshal([]byte(h.ok("", "members", "diary", "--json")), &rows) != nil {
				return false
			}
			a := annaRow(rows)
			return a != nil && a.Name == "Ana" && len(a.Devices) == 2
		}) {
			t.Fatalf("members --json does not show Ana with two devices: %+v", rows)
		}
		a := annaRow(rows)
		if a.Identity != id.ID || a.Devices[0].Person != "Ana" || a.Devices[1].Person != "Ana" {
			t.Fatalf("Ana's row: %+v", *a)
		}
	}
	ms, err := dl.client.Members(t.Context(), "diary")
	if err != nil {
		t.Fatal(err)
	}
	var persons int
	for _, m := range ms {
		if m.Identity == id.ID && m.Author == id.ID {
			persons++
			if m.Name != "Ana" || len(m.Devices) != 2 {
				t.Fatalf("GET members: Ana's row %+v", m)
			}
		}
	}
	if persons != 1 {
		t.Fatalf("GET members: %d rows for Ana, want 1", persons)
	}
	var got struct{ Author string }
	laptop.okJSON(&got, "get", "diary", "day/2", "--json")
	if !strings.Contains(strings.Join(func() []string {
		var out []string
		for _, m := range ms {
			for _, d := range m.Devices {
				out = append(out, d.Author)
			}
		}
		return out
	}(), " "), got.Author) || got.Author == "" {
		t.Fatalf("day/2 by %q, not one of Ana's devices", got.Author)
	}

	if r := other.run("", "device", "add", lt.Ticket); r.code != 1 || !strings.Contains(r.stderr, "link ticket does not work") || !strings.Contains(r.stderr, "loam device link") {
		t.Errorf("a used link ticket: exit %d, %q", r.code, r.stderr)
	}
	if r := server.run("", "device", "link"); r.code != 1 || !strings.Contains(r.stderr, "does not hold the identity key") {
		t.Errorf("device link without the key: exit %d, %q", r.code, r.stderr)
	}

	// Recovery: the phrase from standard input, never an argument.
	if r := fresh.run("", "id", "recover"); r.code != 1 || !strings.Contains(r.stderr, "no phrase on standard input") {
		t.Errorf("recover with no phrase: exit %d, %q", r.code, r.stderr)
	}
	// Two neighbouring words swapped. The checksum is 8 bits, so one swap
	// in 256 still checks out: take the first swap that does not.
	words := strings.Fields(created.Phrase)
	var swapped string
	for i := 0; swapped == "" && i+1 < len(words); i++ {
		w := slices.Clone(words)
		w[i], w[i+1] = w[i+1], w[i]
		if _, err := identity.ParsePhrase(strings.Join(w, " ")); err != nil {
			swapped = strings.Join(w, " ")
		}
	}
	if r := fresh.run(swapped, "id", "recover"); r.code != 1 || !strings.Contains(r.stderr, "recovery phrase") {
		t.Errorf("recover with two words swapped: exit %d, %q", r.code, r.stderr)
	}
	out = fresh.ok(created.Phrase+"\n", "id", "recover", "--device", "new laptop", "--peer", p2pAddr(t, dl))
	if !strings.Contains(out, "Recovered the identity idt_") {
		t.Errorf("id recover:\n%s", out)
	}
	if !testkit.Poll(60*time.Second, 50*time.Millisecond, func() bool {
		return strings.TrimSpace(fresh.run("", "get", "diary", "day/1").stdout) == "sunny" && fresh.run("", "put", "diary", "day/3", "found").code == 0
	}) {
		t.Fatalf("the recovered device does not hold or write in the diary:\n%s", fresh.run("", "space", "ls").stdout)
	}
	if !testkit.Poll(30*time.Second, 50*time.Millisecond, func() bool {
		return strings.Contains(fresh.run("", "id", "show").stdout, "Ana")
	}) {
		t.Error("the recovered device does not learn Ana's name")
	}
}
