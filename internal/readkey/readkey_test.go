package readkey

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
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
	home, sp := t.TempDir(), testSpace
	dev := testDevice
	rk := load(t, home)
	ctx, cancel := context.WithCancel(context.Background())
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		rk.SaveLoop(ctx)
	}()
	defer func() { cancel(); <-saved }()

	if err := os.MkdirAll(rk.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(rk.dir, sp.String()+KeySuffix+".tmp")
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
		rk.Rotated(sp, false, op.Payload)
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		unblock()
		<-returned
		t.Fatal("the Rotated hook waited for the key file write: it does I/O on the store's applier goroutine")
	}
	if cur, ok := rk.Current(sp); !ok || cur.Epoch != 1 || cur.Key != k {
		t.Fatalf("the key is not in use at once: %+v %v", cur, ok)
	}

	// The disk lets the write through: the key file holds the key.
	for deadline := time.Now().Add(10 * time.Second); ; {
		unblock()
		if _, err := os.Stat(fifo); err != nil || rk.Unsaved(sp) != nil {
			break // the saver got through the FIFO (a FIFO cannot be synced)
		}
		if time.Now().After(deadline) {
			t.Fatal("the saver never reached the key file")
		}
		time.Sleep(5 * time.Millisecond) // re-check interval
	}
	os.Remove(fifo)
	if err := rk.SaveUnsaved(); err != nil {
		t.Fatal(err)
	}
	again := load(t, home)
	if cur, ok := again.Current(sp); !ok || cur.Epoch != 1 || cur.Key != k {
		t.Fatalf("the key file after saving: %+v %v", cur, ok)
	}
}

// TestReadKeysConcurrentRotation: when two admins rotate to the same epoch
// concurrently, a member keeps both keys (also across a restart) and opens
// the epoch's ops under either.
func TestReadKeysConcurrentRotation(t *testing.T) {
	home, sp := t.TempDir(), testSpace
	rk := load(t, home)
	k1, k2 := [32]byte{9}, [32]byte{4}
	for _, k := range [][32]byte{k1, k2, k1} {
		if err := rk.Add(sp, []keys.EpochKey{{Epoch: 1, Key: k}}); err != nil {
			t.Fatal(err)
		}
	}
	rk = load(t, home)
	if ks := rk.All(sp); len(ks) != 2 {
		t.Fatalf("after a restart: %d keys, want 2", len(ks))
	}
	for _, k := range [][32]byte{k1, k2} {
		ct, err := seal.SealPayload(seal.ReadKey(k), sp, 1, commit.EncodeSealedOp(commit.Put([]byte("k"), []byte("v"))))
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := rk.Unseal(sp, 1, ct); !ok || string(o.Payload) != "v" {
			t.Errorf("an op sealed under key %x does not open", k[:1])
		}
		if _, ok := rk.Unseal(sp, 2, ct); ok {
			t.Error("opened under another epoch")
		}
	}
}

// TestReadKeysUnsaved: a key that cannot be saved is still used, the
// failure is reported, and the next key learnt saves both.
func TestReadKeysUnsaved(t *testing.T) {
	home, sp := t.TempDir(), testSpace
	rk := load(t, home)
	good := rk.dir
	rk.dir = filepath.Join(home, "not-a-dir")
	if err := os.WriteFile(rk.dir, nil, 0o600); err != nil { // MkdirAll fails, also for root
		t.Fatal(err)
	}
	if err := rk.Add(sp, []keys.EpochKey{{Epoch: 1, Key: [32]byte{7}}}); err == nil {
		t.Fatal("saving into a file as directory succeeded")
	}
	if k, ok := rk.Current(sp); !ok || k.Epoch != 1 {
		t.Fatalf("the unsaved key is not used: %v %v", k, ok)
	}
	if rk.Unsaved(sp) == nil {
		t.Fatal("the failure to save is not reported")
	}
	if err := rk.SaveUnsaved(); err == nil {
		t.Fatal("saving again into a file as directory succeeded")
	}
	rk.dir = good
	if err := rk.Add(sp, []keys.EpochKey{{Epoch: 2, Key: [32]byte{8}}}); err != nil {
		t.Fatal(err)
	}
	if rk.Unsaved(sp) != nil {
		t.Fatal("still reported unsaved after a save")
	}
	again := load(t, home)
	if ks := again.All(sp); len(ks) != 2 {
		t.Fatalf("after a restart: %d keys, want both", len(ks))
	}
}

// TestInviteKeysSurviveRestart: the invite key a node joined a private
// space with is kept on disk, so that a rotation sealed to it before the
// admin saw the join still opens after a restart.
func TestInviteKeysSurviveRestart(t *testing.T) {
	home, sp := t.TempDir(), testSpace
	rk := load(t, home)
	inv := keys.DeviceKeyFromSeed([32]byte{3})
	for range 2 {
		if err := rk.Joining(sp, inv); err != nil {
			t.Fatal(err)
		}
	}
	rk = load(t, home)
	if got := rk.invites[sp]; len(got) != 1 || got[0].Author() != inv.Author() {
		t.Fatalf("invite keys after a restart: %d", len(got))
	}
	fi, err := os.Stat(filepath.Join(home, "spaces", sp.String()+InviteSuffix))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the invite key file: %v %v", fi, err)
	}
	// A rotate op sealed to the invite key opens after the restart.
	k, op := rotateTo(t, inv.Author(), sp, 3)
	rk.Rotated(sp, false, op.Payload)
	if cur, ok := rk.Current(sp); !ok || cur.Epoch != 3 || cur.Key != k {
		t.Fatalf("the rotation sealed to the invite key: %+v %v", cur, ok)
	}
}

// testSpace and testDevice are the space and the device of these tests.
var (
	testSpace  = keys.SpaceKeyFromSeed([32]byte{1}).Space()
	testDevice = keys.DeviceKeyFromSeed([32]byte{2})
)

// load loads testDevice's read keys from home.
func load(t *testing.T, home string) *Custody {
	t.Helper()
	rk, err := Load(home, testDevice)
	if err != nil {
		t.Fatal(err)
	}
	return rk
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

// TestIdentityOpens: a rotation sealed to the person's identity (as the
// person's own space's are) opens once the custody holds the identity's
// opener, and not before: a device recovered from the phrase alone reads
// every epoch.
func TestIdentityOpens(t *testing.T) {
	idk := identity.KeyFromSeed([32]byte{7})
	rk := load(t, t.TempDir())
	k, op := rotateTo(t, keys.AuthorID(idk.ID()), testSpace, 3)
	rk.Rotated(testSpace, false, op.Payload)
	if _, ok := rk.Current(testSpace); ok {
		t.Fatal("a key sealed to the identity opened without it")
	}
	rk.SetIdentity(idk.ReadKeyOpener())
	rk.Rotated(testSpace, false, op.Payload)
	got, ok := rk.Current(testSpace)
	if !ok || got.Epoch != 3 || got.Key != [32]byte(k) {
		t.Fatalf("the key sealed to the identity: %+v, %v", got, ok)
	}
}
