package node

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
)

// TestRotatedHookDoesNoIO: the store's Rotated hook, on its applier
// goroutine, keeps a new epoch's key in memory at once and leaves the key
// file to the node's saver: a key file write that blocks (here a FIFO in
// the temporary file's place) stalls neither the hook nor, through it,
// the group commit of every space. The key is saved once the disk lets
// it.
func TestRotatedHookDoesNoIO(t *testing.T) {
	home, sp := t.TempDir(), rkSpace
	dev := rkDevice
	rk := openReadKeys(t, home)
	ctx, cancel := context.WithCancel(context.Background())
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		rk.saveLoop(ctx)
	}()
	defer func() { cancel(); <-saved }()

	if err := os.MkdirAll(rk.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(rk.dir, sp.String()+readKeySuffix+".tmp")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO to stall the key file write with: %v", err)
	}
	// Opening the FIFO for reading unblocks whoever writes it.
	unblock := func() {
		if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
	defer unblock()

	k, op := rotateTo(t, dev.Author(), sp, 1)
	returned := make(chan struct{})
	go func() {
		rk.rotated(sp, false, op.Payload)
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		unblock()
		<-returned
		t.Fatal("the Rotated hook waited for the key file write: it does I/O on the store's applier goroutine")
	}
	if cur, ok := rk.current(sp); !ok || cur.Epoch != 1 || cur.Key != k {
		t.Fatalf("the key is not in use at once: %+v %v", cur, ok)
	}

	// The disk lets the write through: the key file holds the key.
	for deadline := time.Now().Add(10 * time.Second); ; {
		unblock()
		if _, err := os.Stat(fifo); err != nil || rk.unsavedErr(sp) != nil {
			break // the saver got through the FIFO (a FIFO cannot be synced)
		}
		if time.Now().After(deadline) {
			t.Fatal("the saver never reached the key file")
		}
		time.Sleep(5 * time.Millisecond) // re-check interval
	}
	os.Remove(fifo)
	if err := rk.saveUnsaved(); err != nil {
		t.Fatal(err)
	}
	again := openReadKeys(t, home)
	if cur, ok := again.current(sp); !ok || cur.Epoch != 1 || cur.Key != k {
		t.Fatalf("the key file after saving: %+v %v", cur, ok)
	}
}

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
	keyFile := filepath.Join(home, "spaces", id.String()+readKeySuffix)
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
	if cur, ok := a.rk.current(id); !ok || cur.Epoch != r.Epoch || r.Epoch != 1 {
		t.Fatalf("after the revocation: epoch %d held, rotation to %d", cur.Epoch, r.Epoch)
	}
	want, _ := a.rk.current(id)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, before, 0o600); err != nil { // the save never reached the disk
		t.Fatal(err)
	}

	a = openNode(t, home)
	if cur, ok := a.rk.current(id); !ok || cur != want {
		t.Fatalf("after a restart: epoch %d held, want the rotated key of epoch %d", cur.Epoch, want.Epoch)
	}
	again, err := loadReadKeys(home, a.dev)
	if err != nil {
		t.Fatal(err)
	}
	if cur, ok := again.current(id); !ok || cur != want {
		t.Fatalf("the key file after the restart does not hold the rotated key: epoch %d", cur.Epoch)
	}
}

// rotateTo returns a new read key and a rotate op of space sp to epoch
// that seals it to reader alone.
func rotateTo(t *testing.T, reader keys.AuthorID, sp keys.SpaceID, epoch uint64) (seal.ReadKey, commit.Op) {
	t.Helper()
	k, err := seal.NewReadKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := seal.SealKey(reader, k, sp, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return k, commit.RotateOp(commit.Rotate{Epoch: epoch, Keys: []commit.SealedKey{{Reader: reader, Sealed: sealed}}})
}

// rkSpace and rkDevice are the space and the device of the read-key tests
// that use no node.
var (
	rkSpace  = keys.SpaceKeyFromSeed([32]byte{1}).Space()
	rkDevice = keys.DeviceKeyFromSeed([32]byte{2})
)

// openReadKeys loads rkDevice's read keys from home.
func openReadKeys(t *testing.T, home string) *readKeys {
	t.Helper()
	rk, err := loadReadKeys(home, rkDevice)
	if err != nil {
		t.Fatal(err)
	}
	return rk
}
