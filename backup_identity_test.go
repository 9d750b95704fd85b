package loam_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/testkit"
)

// personSpaceOf returns the person's own space that home's identity file
// names (its 'space' line, docs/format/identity.md §5).
func personSpaceOf(t *testing.T, home string) string {
	t.Helper()
	b := must(os.ReadFile(filepath.Join(home, "identity")))(t)
	for l := range strings.Lines(string(b)) {
		if id, ok := strings.CutPrefix(l, "space "); ok {
			return strings.TrimSpace(id)
		}
	}
	t.Fatalf("the identity file names no person's space:\n%s", b)
	return ""
}

// waitKey waits until key is in sp.
func waitKey(t *testing.T, sp *loam.Space, key string) {
	t.Helper()
	if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool { return slices.Contains(keysOf(t, sp), key) }) {
		t.Fatalf("%s never came into %s: %q", key, sp.ID(), keysOf(t, sp))
	}
}

// serveHome runs a daemon on home until the test ends, without a p2p
// host: a backup needs none.
func serveHome(t *testing.T, home string) {
	t.Helper()
	serveNode(t, node.Options{Home: home, NoSync: true, Offline: true})
}

// dirState lists a directory's entries with their sizes ("" if it does
// not exist), to show that a failed restore wrote nothing.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %v %d\n", rel, info.Mode(), info.Size())
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestBackupIdentity is issue 12's backup must-show with a person: a
// device holding an identity (with its key, or phrase-only) and so the
// person's own space is backed up, embedded and through its daemon; the
// home is wiped and the backup restored: the same device key, the same
// identity (ID, name, and key or not), the identity file 0600, the
// person's space back with its data and read keys (the same view hash),
// the other space held again. A wrong passphrase and one flipped byte
// fail with their errors and leave the home as it was.
func TestBackupIdentity(t *testing.T) {
	for _, c := range []struct {
		name       string
		daemon     bool
		phraseOnly bool
	}{{"embedded", false, false}, {"daemon", true, false}, {"phrase-only", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t)
			home := filepath.Join(t.TempDir(), "ana")
			n := must(loam.Open(ctx, loam.Options{Home: home}))(t)
			id, _, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop", PhraseOnly: c.phraseOnly})
			if err != nil {
				t.Fatal(err)
			}
			person, author := personSpaceOf(t, home), n.Author()
			me := must(n.Space(ctx, person))(t)
			if err := me.Put(ctx, []byte("notes/1"), []byte("call Bo")); err != nil {
				t.Fatal(err)
			}
			if _, err := me.PutBlob(ctx, []byte("notes/avatar"), bytes.NewReader(bytes.Repeat([]byte("ana"), 1000)), "image/png"); err != nil {
				t.Fatal(err)
			}
			garden := must(n.CreateSpace(ctx, "garden", loam.Public))(t)
			if err := garden.Put(ctx, []byte("beds/1"), []byte("tomatoes")); err != nil {
				t.Fatal(err)
			}
			// The node writes garden into the person's directory: wait
			// for it, so that the person's space stands still.
			waitKey(t, me, "spaces/"+garden.ID())
			wantMe := snap(t, ctx, me)
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			devKey := must(os.ReadFile(filepath.Join(home, "device.key")))(t)
			idFile := must(os.ReadFile(filepath.Join(home, "identity")))(t)

			if c.daemon {
				serveHome(t, home)
				n = connect(t, home)
			} else {
				n = must(loam.Open(ctx, loam.Options{Home: home}))(t)
			}
			var buf bytes.Buffer
			sum, err := n.Backup(ctx, &buf, loam.BackupOptions{Passphrase: "correct horse", Spaces: []string{person}})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Identity != id.ID || sum.IdentityKey == c.phraseOnly || sum.Person != person ||
				len(sum.Archives) != 1 || sum.Archives[0].Space != person || !sum.Archives[0].ReadKeys || len(sum.Spaces) != 2 {
				t.Fatalf("backup summary %+v", sum)
			}
			if bytes.Contains(buf.Bytes(), []byte("idtsec_")) || bytes.Contains(buf.Bytes(), []byte("loam-identity")) {
				t.Fatal("the backup is not encrypted")
			}
			backup := buf.Bytes()
			if !c.daemon {
				if err := n.Close(); err != nil {
					t.Fatal(err)
				}
			}

			// Bad input writes nothing: onto a home that does not exist,
			// and onto one that has a file but no device key.
			fresh := filepath.Join(t.TempDir(), "fresh")
			used := t.TempDir()
			if err := os.WriteFile(filepath.Join(used, "notes.txt"), []byte("mine"), 0o600); err != nil {
				t.Fatal(err)
			}
			flipped := bytes.Clone(backup)
			flipped[len(flipped)/2] ^= 1
			for _, bad := range []struct {
				name string
				b    []byte
				pass string
				want error
			}{
				{"wrong passphrase", backup, "correct horse!", loam.ErrPassphrase},
				{"flipped byte", flipped, "correct horse", loam.ErrBadBackup},
			} {
				for _, dir := range []string{fresh, used} {
					before := dirState(t, dir)
					_, err := loam.RestoreBackup(ctx, dir, bytes.NewReader(bad.b), loam.RestoreBackupOptions{Passphrase: bad.pass})
					if !errors.Is(err, bad.want) || !strings.Contains(err.Error(), "nothing was restored") {
						t.Errorf("%s: %v, want %v", bad.name, err, bad.want)
					}
					if after := dirState(t, dir); after != before {
						t.Errorf("%s: the failed restore changed %s:\n%s\nwas:\n%s", bad.name, dir, after, before)
					}
				}
			}

			if c.daemon {
				return // the restore is the library's, in this process: the embedded cases show it
			}
			if err := os.RemoveAll(home); err != nil {
				t.Fatal(err)
			}
			rs, err := loam.RestoreBackup(ctx, home, bytes.NewReader(backup), loam.RestoreBackupOptions{Passphrase: "correct horse"})
			if err != nil {
				t.Fatal(err)
			}
			if rs.Author != author || rs.Identity != id.ID || rs.IdentityKey == c.phraseOnly || rs.Person != person || len(rs.Spaces) != 2 {
				t.Errorf("restore summary %+v", rs)
			}
			if got := must(os.ReadFile(filepath.Join(home, "device.key")))(t); !bytes.Equal(got, devKey) {
				t.Error("the restored device key differs")
			}
			if got := must(os.ReadFile(filepath.Join(home, "identity")))(t); !bytes.Equal(got, idFile) {
				t.Errorf("the restored identity file differs:\n%s\nwant:\n%s", got, idFile)
			}
			if fi := must(os.Stat(filepath.Join(home, "identity")))(t); fi.Mode().Perm() != 0o600 {
				t.Errorf("the identity file's mode is %v, want 0600", fi.Mode().Perm())
			}
			n = must(loam.Open(ctx, loam.Options{Home: home}))(t)
			defer n.Close()
			got := must(n.Identity(ctx))(t)
			if n.Author() != author || got.ID != id.ID || got.Name != "Ana" || got.HoldsKey != id.HoldsKey || got.HoldsKey == c.phraseOnly || got.Device != id.Device {
				t.Errorf("restored identity %+v on %s, want %+v on %s", got, n.Author(), id, author)
			}
			me = must(n.Space(ctx, person))(t)
			if err := wantMe.equal(snap(t, ctx, me)); err != nil {
				t.Errorf("the person's space after the restore: %v", err)
			}
			if v, err := me.Get(ctx, []byte("notes/1")); err != nil || string(v) != "call Bo" {
				t.Errorf("the person's space reads %q, %v", v, err)
			}
			if err := me.Put(ctx, []byte("notes/2"), []byte("water the beds")); err != nil {
				t.Errorf("write in the person's space after the restore: %v", err)
			}
			g := must(n.Space(ctx, "garden"))(t)
			if len(keysOf(t, g)) != 0 {
				t.Error("garden came back with data it was not backed up with")
			}
			// Held again empty, it awaits its own history from a peer
			// before it takes a write (this node has no network).
			if err := g.Put(ctx, []byte("beds/2"), []byte("beans")); !errors.Is(err, loam.ErrAwaiting) {
				t.Errorf("a write in garden before its history is back: %v, want ErrAwaiting", err)
			}
		})
	}
}

// TestBackupV1Restores: a version 1 backup (testdata/backup-v1.age, made
// by Loam before backups carried the person) still restores: its device,
// its archived private space with its data, its other space held again.
func TestBackupV1Restores(t *testing.T) {
	ctx := ctxT(t)
	b := must(os.ReadFile("testdata/backup-v1.age"))(t)
	home := filepath.Join(t.TempDir(), "home")
	rs, err := loam.RestoreBackup(ctx, home, bytes.NewReader(b), loam.RestoreBackupOptions{Passphrase: "golden v1"})
	if err != nil {
		t.Fatal(err)
	}
	const author = "aut_7mwtjbc747zzyvw26x467co5idii7hhoswscfi6fripgq7ivcwnq"
	if rs.Author != author || rs.Identity != "" || rs.Person != "" || len(rs.Spaces) != 2 || len(rs.Archives) != 1 {
		t.Errorf("restore summary %+v", rs)
	}
	n := must(loam.Open(ctx, loam.Options{Home: home}))(t)
	defer n.Close()
	if _, err := n.Identity(ctx); !errors.Is(err, loam.ErrNoIdentity) {
		t.Errorf("identity after restoring a version 1 backup: %v", err)
	}
	family := must(n.Space(ctx, "family"))(t)
	if v, err := family.Get(ctx, []byte("chat/1")); err != nil || string(v) != "dinner at 7" || n.Author() != author {
		t.Errorf("family reads %q, %v (device %s)", v, err, n.Author())
	}
	if family.ID() != "spc_l7fh7eedrrukl2icg7ebm3ia2px2bmjw2w62nx53vs6nusidthiq" {
		t.Errorf("family is %s", family.ID())
	}
	street, err := n.Space(ctx, "spc_4b2mmh3h6jfs64f6jccei6oa3w6ufbeavxdaakzpmu2l57hqm6sq")
	if err != nil {
		t.Fatalf("street is not held again: %v", err)
	}
	if err := street.Put(ctx, []byte("tools/saw"), []byte("hand saw")); !errors.Is(err, loam.ErrAwaiting) {
		t.Errorf("a write in street before its history is back: %v, want ErrAwaiting", err)
	}
}
