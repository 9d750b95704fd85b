package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/testkit"
)

// TestPrivateSpaceCLI: 'space create --private' makes a space whose values
// are read and written as usual, with its read keys in a 0600 key file;
// its blobs are stored sealed.
func TestPrivateSpaceCLI(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	var created struct{ ID, Name string }
	h.okJSON(&created, "space", "create", "family", "--private", "--json")
	h.ok("", "put", "family", "notes/1", "dear diary")
	if got := h.ok("", "get", "family", "notes/1"); got != "dear diary" {
		t.Errorf("get: %q", got)
	}
	fi, err := os.Stat(filepath.Join(h.dir, "spaces", created.ID+".readkeys"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 40 {
		t.Errorf("the read key file: %v, %v", fi, err)
	}
	// A value over 64 KiB becomes a sealed blob: read back whole through
	// the key, stored sealed.
	big := strings.Repeat("private photo ", 10000)
	h.ok(big, "put", "family", "photo", "-")
	if got := h.ok("", "get", "family", "photo"); got != big {
		t.Errorf("get of the blob: %d bytes, want %d", len(got), len(big))
	}
	var e api.Entry
	h.okJSON(&e, "get", "family", "photo", "--json")
	if e.Blob == nil || !e.Blob.Sealed || e.Blob.Size != int64(len(big)) {
		t.Fatalf("get --json: %+v", e.Blob)
	}
	export := h.ok("", "export", "family")
	if !strings.Contains(export, `"sealed":true`) {
		t.Errorf("export of a sealed blob key:\n%s", export)
	}
	h.ok("", "space", "create", "copy")
	if msg := h.fail(1, export, "import", "copy"); !strings.Contains(msg, "sealed to a private space") {
		t.Errorf("import of a sealed reference: %q", msg)
	}
	if got := h.ok("", "blob", "get", e.Blob.ID); got == big || strings.Contains(got, "private photo") {
		t.Error("blob get by ID returns the plaintext: the blob is stored in the clear")
	}
	if found := testkit.Grep(t, filepath.Join(h.dir, "blobs"), "private photo"); len(found) > 0 {
		t.Errorf("the blob store holds the plaintext: %v", found)
	}
}

// TestSeedCLI: 'loam seed' with a seed ticket keeps a private space's
// commits without any plaintext key or value; a member's ticket is refused
// by seed; a member joining reads the space.
func TestSeedCLI(t *testing.T) {
	t.Parallel()
	a, s, b := newHome(t), newHome(t), newHome(t)
	startDaemon(t, a, loopbackDaemon...)
	id := strings.TrimSpace(a.ok("", "space", "create", "club", "--private"))
	a.ok("", "put", "club", "canary-key-5d1e", "canary-value-77c2")
	seedT := strings.TrimSpace(a.ok("", "invite", "club", "--role", "seed"))
	writeT := strings.TrimSpace(a.ok("", "invite", "club", "--role", "write"))

	if line := s.fail(1, "", "seed", writeT); !strings.Contains(line, "loam invite club --role seed") {
		t.Errorf("seed with a member's ticket: %q", line)
	}
	s.joinJSON("seed", seedT, id, "club")
	// The seeder verifies what it holds as members do: signatures, chains, grants.
	var v struct{ Commits int }
	if err := json.Unmarshal([]byte(s.ok("", "log", "verify", "club", "--json")), &v); err != nil || v.Commits < 4 {
		t.Errorf("log verify on the seeder: %+v %v", v, err) // genesis, the put, two invites, the join
	}
	// Reads on the seeder say the space is sealed here (they said "not
	// found", and ls printed nothing).
	for _, args := range [][]string{{"get", "club", "canary-key-5d1e"}, {"ls", "club"}} {
		if line := s.fail(1, "", args...); !strings.Contains(line, "space club is sealed on this node") {
			t.Errorf("%s on the seeder: %q", args[0], line)
		}
	}
	// With --json, stdout says the kind too: {"error", "code": "sealed"}
	// (it printed nothing there).
	for _, args := range [][]string{{"get", "club", "canary-key-5d1e", "--json"}, {"ls", "club", "--json"}} {
		r := s.run("", args...)
		var e api.ErrorBody
		if err := json.Unmarshal([]byte(r.stdout), &e); r.code != 1 || err != nil || e.Code != "sealed" || !strings.Contains(e.Error, "sealed on this node") {
			t.Errorf("%s --json on the seeder: exit %d, stdout %q (%v)", args[0], r.code, r.stdout, err)
		}
	}
	if found := testkit.Grep(t, s.dir, "canary"); len(found) > 0 {
		t.Errorf("the seeder's home holds plaintext: %v", found)
	}

	b.ok("", "join", writeT)
	if got := b.ok("", "get", "club", "canary-key-5d1e"); got != "canary-value-77c2" {
		t.Errorf("a member's get: %q", got)
	}
	var ms []loam.Member
	a.okJSON(&ms, "members", "club", "--json")
	var bAuthor string
	for _, m := range ms {
		if m.Role == loam.Write && !m.Invite {
			bAuthor = m.Author
		}
	}
	if out := a.ok("", "revoke", "club", bAuthor); !strings.Contains(out, "new read key: epoch 1") {
		t.Errorf("revoking a member of a private space: %q", out)
	}
}

// TestSeedDaemonKeepsSealedBlobs: 'loam seed' through a running daemon
// keeps a private space served: the seeder's daemon fetches the space's
// sealed blobs, its home holds no plaintext, and with the inviting daemon
// stopped a new member restores a value and a blob from the seeder alone.
func TestSeedDaemonKeepsSealedBlobs(t *testing.T) {
	t.Parallel()
	a, s, c := newHome(t), newHome(t), newHome(t)
	da := startDaemon(t, a, loopbackDaemon...)
	ds := startDaemon(t, s, loopbackDaemon...)
	a.ok("", "space", "create", "club", "--private")
	a.ok("", "put", "club", "notes/canary-key-0b7e", "canary-value-3f9a")
	photo := strings.Repeat("canary-photo-c4d2 ", 200_000) // 3.6 MB: four sealed frames
	a.ok(photo, "put", "club", "photos/1", "-")
	var e api.Entry
	if err := json.Unmarshal([]byte(a.ok("", "get", "club", "photos/1", "--json")), &e); err != nil || e.Blob == nil || !e.Blob.Sealed {
		t.Fatalf("get --json: %+v %v", e.Blob, err)
	}
	seedT := strings.TrimSpace(a.ok("", "invite", "club", "--role", "seed"))
	if out := s.ok("", "seed", seedT); !strings.HasPrefix(out, "seeding club") {
		t.Fatalf("seed: %q", out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var list []api.BlobInfo
		s.okJSON(&list, "blob", "ls", "--json")
		if len(list) == 1 && list[0].ID == e.Blob.ID && list[0].Held == list[0].Chunks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seeder's daemon did not fetch the sealed blob: %+v", list)
		}
		time.Sleep(100 * time.Millisecond) // re-check interval, not synchronization
	}
	readT := strings.TrimSpace(a.ok("", "invite", "club", "--role", "read")) // names the seeder
	da.stop(t)

	startDaemon(t, c, loopbackDaemon...)
	c.ok("", "join", readT)
	if got := c.ok("", "get", "club", "notes/canary-key-0b7e"); got != "canary-value-3f9a" {
		t.Errorf("the new member's get: %q", got)
	}
	if got := c.ok("", "get", "club", "photos/1"); got != photo {
		t.Errorf("the new member's get of the blob: %d bytes, want %d", len(got), len(photo))
	}

	ds.stop(t)
	if found := testkit.Grep(t, s.dir, "canary"); len(found) > 0 {
		t.Errorf("the seeder's home holds plaintext: %v", found)
	}
}
