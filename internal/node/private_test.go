package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/readkey"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

// Canaries: plaintext that must never reach a seeder's disk.
const (
	canaryKey   = "notes/canary-key-7f3e2a"
	canaryValue = "canary-value-91ab0c"
)

func heads(n *Node, id keys.SpaceID) string {
	hs, err := n.st.Heads(context.Background(), id)
	if err != nil {
		return "err:" + err.Error()
	}
	return fmt.Sprint(hs)
}

func sameHeads(nodes []*Node, id keys.SpaceID) bool {
	for _, n := range nodes[1:] {
		if heads(n, id) != heads(nodes[0], id) {
			return false
		}
	}
	return true
}

func value(n *Node, id keys.SpaceID, k string) string {
	e, err := n.st.Get(context.Background(), id, []byte(k))
	if err != nil {
		return ""
	}
	return string(e.Value)
}

// TestPrivateSpaceBlindSeeder: two members of a private space read each
// other's writes over sync; a seeder stores and serves every commit,
// verifying them as members do, and its home never holds a plaintext key
// or value.
func TestPrivateSpaceBlindSeeder(t *testing.T) {
	ctx := ctxT(t)
	a, b, s := openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	if !sp.Private() {
		t.Fatal("a's new private space does not seal")
	}
	put(t, a, id, canaryKey, canaryValue)
	if got := value(a, id, canaryKey); got != canaryValue {
		t.Fatalf("a reads %q, want %q", got, canaryValue)
	}
	seedT := inviteFor(t, a, "club", commit.RoleSeed, 0)
	if len(seedT.ReadKeys) != 0 {
		t.Fatal("a seed ticket carries read keys")
	}
	joinWith(t, s, seedT)
	writeT := inviteFor(t, a, "club", commit.RoleWrite, time.Hour)
	if len(writeT.ReadKeys) != 1 {
		t.Fatalf("a write ticket carries %d read keys, want 1", len(writeT.ReadKeys))
	}
	bsp := joinWith(t, b, writeT)
	if !bsp.Private() {
		t.Fatal("b's view of the private space does not seal")
	}
	put(t, b, id, canaryKey+"-b", canaryValue+"-b")
	waitFor(t, 20*time.Second, "every commit on all three nodes, both writes readable by the members", func() bool {
		return sameHeads([]*Node{a, b, s}, id) &&
			value(a, id, canaryKey+"-b") == canaryValue+"-b" && value(b, id, canaryKey) == canaryValue
	})
	if !converged([]*Node{a, b}, id) {
		t.Fatal("the members' views differ")
	}
	if _, err := s.st.Get(ctx, id, []byte(canaryKey)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the seeder's view has the canary: %v", err)
	}
	ssp, err := s.openSpace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssp.Commit(ctx, []commit.Op{commit.Put([]byte("x"), []byte("1"))}); err == nil {
		t.Fatal("the seeder wrote to the private space")
	}
	// Reads on the seeder say the space is sealed, not that keys are missing.
	if _, err := ssp.Get(ctx, []byte(canaryKey)); !errors.Is(err, space.ErrSealed) {
		t.Errorf("the seeder's Get: %v, want space.ErrSealed", err)
	}
	var rangeErr error
	for _, err := range ssp.Range(ctx, store.Query{}) {
		rangeErr = err
	}
	if !errors.Is(rangeErr, space.ErrSealed) {
		t.Errorf("the seeder's Range ends with %v, want space.ErrSealed", rangeErr)
	}
	if _, err := ssp.Conflicts(ctx, []byte(canaryKey)); !errors.Is(err, space.ErrSealed) {
		t.Errorf("the seeder's Conflicts: %v, want space.ErrSealed", err)
	}
	if _, err := bsp.Get(ctx, []byte(canaryKey)); err != nil {
		t.Errorf("a member's Get: %v", err)
	}
	if n := misbehaving([]*Node{a, b, s}); n != 0 {
		t.Fatalf("%d misbehaviours counted", n)
	}
	// Every commit the seeder holds is verified again from its bytes.
	vs, err := s.st.View(ctx, id)
	if err != nil || vs.Visible != 0 {
		t.Fatalf("the seeder's view: %+v, %v", vs, err)
	}
	for _, n := range []*Node{a, b, s} {
		n.Close() // flush everything to disk before looking
	}
	if found := testkit.Grep(t, s.home, canaryKey, canaryValue, "canary"); len(found) != 0 {
		t.Fatalf("the seeder's home holds plaintext: %v", found)
	}
	if found := testkit.Grep(t, a.home, canaryValue); len(found) == 0 {
		t.Fatal("the member's home does not hold the canary: the grep would not find it anywhere")
	}
}

// TestPrivateSeederRestoresDevice: with the admin offline, a member's new
// device joins through the seeder alone and reads everything.
func TestPrivateSeederRestoresDevice(t *testing.T) {
	a, s, c := openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	put(t, a, id, canaryKey, canaryValue)
	joinAs(t, a, s, "club", commit.RoleSeed, 0)
	readT := inviteFor(t, a, "club", commit.RoleRead, 0)
	waitFor(t, 20*time.Second, "the seeder to hold every commit", func() bool { return sameHeads([]*Node{a, s}, id) })
	a.Close()
	readT.Addrs = s.Addrs()
	joinWith(t, c, readT)
	waitFor(t, 20*time.Second, "the new device to read the canary", func() bool { return value(c, id, canaryKey) == canaryValue })
}

// TestPrivateRotationOnRevoke: revoking a reader of a private space starts
// a new epoch whose key the remaining members (and a late joiner holding a
// ticket made before the rotation) get, and the revoked reader does not:
// it still receives every commit but cannot read the later writes.
func TestPrivateRotationOnRevoke(t *testing.T) {
	ctx := ctxT(t)
	a, b, c, d := openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir())
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	joinAs(t, a, b, "club", commit.RoleWrite, 0)
	joinAs(t, a, c, "club", commit.RoleRead, time.Hour)
	lateT := inviteFor(t, a, "club", commit.RoleRead, time.Hour) // d joins after the rotation
	put(t, a, id, "before", "everyone reads this")
	waitFor(t, 20*time.Second, "c to read the first write", func() bool { return value(c, id, "before") == "everyone reads this" })
	waitFor(t, 20*time.Second, "a to hold c's join", func() bool { return sameHeads([]*Node{a, b, c}, id) })

	r, err := a.Revoke(ctx, "club", c.Author().String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Epoch != 1 {
		t.Fatalf("the revocation started epoch %d, want 1", r.Epoch)
	}
	put(t, a, id, "after", canaryValue)
	waitFor(t, 20*time.Second, "b to read the write of epoch 1", func() bool { return value(b, id, "after") == canaryValue })
	put(t, b, id, "after-b", canaryValue+"-b")
	waitFor(t, 20*time.Second, "a to read b's write of epoch 1", func() bool { return value(a, id, "after-b") == canaryValue+"-b" })
	joinWith(t, d, lateT)
	waitFor(t, 20*time.Second, "every commit on c, and d reading epoch 1", func() bool {
		return sameHeads([]*Node{a, b, c}, id) && value(d, id, "after") == canaryValue && value(d, id, "after-b") == canaryValue+"-b"
	})
	if got := value(c, id, "after"); got != "" {
		t.Fatalf("the revoked reader reads %q", got)
	}
	if ks := c.rk.All(id); len(ks) != 1 || ks[0].Epoch != 0 {
		t.Fatalf("the revoked reader holds keys of epochs %v", ks)
	}
	if got := value(c, id, "before"); got != "everyone reads this" {
		t.Fatalf("the revoked reader lost what it read: %q", got)
	}
}

// TestPrivateWriteWithoutKey: a member whose key file is gone is told how
// to get it back, and writes nothing in the clear.
func TestPrivateWriteWithoutKey(t *testing.T) {
	ctx := ctxT(t)
	home := t.TempDir()
	a := openNode(t, home)
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	a.Close()
	if err := os.Remove(filepath.Join(home, "spaces", id.String()+readkey.KeySuffix)); err != nil {
		t.Fatal(err)
	}
	a = openNode(t, home)
	sp2, err := a.openSpace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sp2.Commit(ctx, []commit.Op{commit.Put([]byte(canaryKey), []byte(canaryValue))})
	if !errors.Is(err, ErrNoReadKey) || !strings.Contains(err.Error(), "join again with a new invite") {
		t.Fatalf("a write without the read key: %v", err)
	}
	a.Close()
	if found := testkit.Grep(t, home, canaryValue); len(found) != 0 {
		t.Fatalf("written in the clear: %v", found)
	}
}
