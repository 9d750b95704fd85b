package node

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/readkey"
)

// TestReadKeysLearntAgainAfterCrash: a node that stopped after the store
// applied a rotation sealed to it but before its key file was saved (a
// crash; here the file is set back to what it held before) learns the key
// again from the store on the next start, and saves it.
func TestReadKeysLearntAgainAfterCrash(t *testing.T) {
	ctx := ctxT(t)
	home := t.TempDir()
	a := openNode(t, home)
	sp := privateSpace(t, a, "club")
	id := sp.ID()
	keyFile := filepath.Join(home, "spaces", id.String()+readkey.KeySuffix)
	before, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Commit(ctx, []commit.Op{commit.GrantOp(commit.Grant{Subject: other.Author(), Role: commit.RoleRead})}); err != nil {
		t.Fatal(err)
	}
	r, err := a.Revoke(ctx, "club", other.Author().String())
	if err != nil {
		t.Fatal(err)
	}
	if cur, ok := a.rk.Current(id); !ok || cur.Epoch != r.Epoch || r.Epoch != 1 {
		t.Fatalf("after the revocation: epoch %d held, rotation to %d", cur.Epoch, r.Epoch)
	}
	want, _ := a.rk.Current(id)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, before, 0o600); err != nil { // the save never reached the disk
		t.Fatal(err)
	}

	a = openNode(t, home)
	if cur, ok := a.rk.Current(id); !ok || cur != want {
		t.Fatalf("after a restart: epoch %d held, want the rotated key of epoch %d", cur.Epoch, want.Epoch)
	}
	again, err := readkey.Load(home, a.dev)
	if err != nil {
		t.Fatal(err)
	}
	if cur, ok := again.Current(id); !ok || cur != want {
		t.Fatalf("the key file after the restart does not hold the rotated key: epoch %d", cur.Epoch)
	}
}
