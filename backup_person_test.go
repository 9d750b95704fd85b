package loam_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/testkit"
)

// TestBackupPersonAwaits: a backup restores the person's own space with
// its data; where another holder of it exists (here a seeder), commits of
// this device newer than the backup may exist there, so the restored
// space refuses writes until in sync with a peer (ErrAwaiting) instead of
// forking this device's history. Where none exists, it is writable at
// once (TestBackupIdentity).
func TestBackupPersonAwaits(t *testing.T) {
	ctx := ctxT(t)
	home := filepath.Join(t.TempDir(), "ana")
	n := must(loam.Open(ctx, networked(home)))(t)
	seeder := must(loam.Open(ctx, networked(t.TempDir())))(t)
	defer seeder.Close()
	if _, _, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"}); err != nil {
		t.Fatal(err)
	}
	person := personSpaceOf(t, home)
	me := must(n.Space(ctx, person))(t)
	ticket := must(me.Invite(ctx, loam.Seed, time.Hour))(t)
	if _, err := seeder.Join(ctx, ticket); err != nil {
		t.Fatal(err)
	}
	if !testkit.Poll(30*time.Second, 20*time.Millisecond, func() bool {
		ms, err := me.Members(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.Author == seeder.Author() {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the seeder's join does not reach the laptop")
	}
	var buf bytes.Buffer
	if _, err := n.Backup(ctx, &buf, loam.BackupOptions{Passphrase: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	n.Close()

	fresh := filepath.Join(t.TempDir(), "restored")
	if _, err := loam.RestoreBackup(ctx, fresh, bytes.NewReader(buf.Bytes()), loam.RestoreBackupOptions{Passphrase: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	r := must(loam.Open(ctx, loam.Options{Home: fresh}))(t) // offline: nothing comes back
	defer r.Close()
	sp := must(r.Space(ctx, person))(t)
	if err := sp.Put(ctx, []byte("notes/2"), []byte("x")); !errors.Is(err, loam.ErrAwaiting) {
		t.Fatalf("a write in the restored person space that a seeder holds too: %v, want ErrAwaiting", err)
	}
}
