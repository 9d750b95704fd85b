package loam_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loamdb/loam"
)

// snapshot is what a space shows: every key with its value (or blob ID)
// and author, and the view hash.
type snapshot struct {
	hash string
	keys map[string]string
}

func snap(t *testing.T, ctx context.Context, sp *loam.Space) snapshot {
	t.Helper()
	s := snapshot{keys: map[string]string{}}
	for kv, err := range sp.Range(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		v := string(kv.Value)
		if kv.Blob != nil {
			v = "blob " + kv.Blob.ID
		}
		s.keys[string(kv.Key)] = fmt.Sprintf("%s by %s at %s", v, kv.Author, kv.Time.Format(time.RFC3339Nano))
	}
	s.hash = must(sp.State(ctx))(t).Hash
	return s
}

// blobOf returns the bytes of the blob that key references in sp.
func blobOf(t *testing.T, ctx context.Context, sp *loam.Space, key string) []byte {
	t.Helper()
	r := must(sp.OpenBlob(ctx, []byte(key)))(t)
	defer r.Close()
	return must(io.ReadAll(r))(t)
}

func (s snapshot) equal(o snapshot) error {
	if s.hash != o.hash {
		return fmt.Errorf("view hash %s, want %s", o.hash, s.hash)
	}
	if len(s.keys) != len(o.keys) {
		return fmt.Errorf("%d keys, want %d", len(o.keys), len(s.keys))
	}
	for k, v := range s.keys {
		if o.keys[k] != v {
			return fmt.Errorf("key %s: %q, want %q", k, o.keys[k], v)
		}
	}
	return nil
}

// TestArchiveRestore is issue 12's must-show: a space with chat messages
// and tool-library records by two people and a 20 MiB blob, archived on
// one node (through its daemon) and restored on a node with no network
// (embedded) and through another daemon: it verifies, its view hash and
// every key's author and time are the same, and the blob reads back
// byte-identical.
func TestArchiveRestore(t *testing.T) {
	ctx := ctxT(t)
	ana := connect(t, startDaemon(t).home)
	bo, err := loam.Open(ctx, networked(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer bo.Close()

	sp := must(ana.CreateSpace(ctx, "street", loam.Public))(t)
	bsp := must(bo.Join(ctx, must(sp.Invite(ctx, loam.Write, time.Hour))(t)))(t)
	for i, w := range []struct {
		s   *loam.Space
		key string
		val string
	}{
		{sp, "chat/general/0001", "hello, anyone has a ladder?"},
		{bsp, "chat/general/0002", "I do, 3 m"},
		{sp, "tools/drill", "cordless drill, 18V (lent by Ana)"},
		{bsp, "tools/ladder", "3 m ladder (lent by Bo)"},
		{bsp, "chat/general/0003", "come by any time"},
	} {
		if err := w.s.Put(ctx, []byte(w.key), []byte(w.val)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	big := make([]byte, 20<<20)
	rand.Read(big)
	if _, err := sp.PutBlob(ctx, []byte("tools/manual.bin"), bytes.NewReader(big), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		_, err := sp.Get(ctx, []byte("chat/general/0003"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bo's writes did not reach Ana: %v", err)
		}
		if err := sp.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := snap(t, ctx, sp)

	file := filepath.Join(t.TempDir(), "street.loamarchive")
	f := must(os.Create(file))(t)
	var progress int64
	sum, err := sp.Archive(ctx, f, loam.ArchiveOptions{Progress: func(n int64) { progress = n }})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi := must(os.Stat(file))(t)
	if sum.Bytes != fi.Size() || progress != fi.Size() || sum.Blobs != 1 || sum.BlobBytes != int64(len(big)) || sum.Commits < 7 || sum.Space != sp.ID() {
		t.Fatalf("archive summary %+v (progress %d) of a %d-byte file", sum, progress, fi.Size())
	}

	// Restored embedded (a node with no network) and through a daemon.
	eachVia(t, func(t *testing.T, n *loam.Node) {
		rs, err := n.RestoreSpace(ctx, must(os.Open(file))(t), loam.RestoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rs.Commits != sum.Commits || rs.Blobs != 1 || rs.Name != "street" || rs.Space != sp.ID() || rs.Bytes != fi.Size() {
			t.Errorf("restore summary %+v, archive's %+v", rs, sum)
		}
		got := must(n.Space(ctx, "street"))(t)
		rep, err := got.Verify(ctx)
		if err != nil {
			t.Fatalf("verify of the restored space: %v", err)
		}
		if rep.Authors < 3 || rep.Commits != sum.Commits {
			t.Errorf("verify: %+v", rep)
		}
		if err := want.equal(snap(t, ctx, got)); err != nil {
			t.Errorf("the restored space differs: %v", err)
		}
		for k, v := range want.keys {
			if bytes.Contains([]byte(v), []byte(n.Author())) {
				t.Errorf("key %s is by the restoring node: %s", k, v)
			}
		}
		if b := blobOf(t, ctx, got, "tools/manual.bin"); !bytes.Equal(b, big) {
			t.Errorf("the blob reads back %d bytes, not the %d written", len(b), len(big))
		}
		// Restoring again: the space is held.
		if _, err := n.RestoreSpace(ctx, must(os.Open(file))(t), loam.RestoreOptions{Name: "again"}); !errors.Is(err, loam.ErrSpaceHeld) {
			t.Errorf("a second restore: %v, want ErrSpaceHeld", err)
		}
	})
}

// TestRestoreDamaged: an archive with one flipped byte (in its space
// record, a commit, blob data or its end) or cut short fails with a clear
// error and leaves nothing behind: no space, no key file, its name free;
// the intact archive then restores.
func TestRestoreDamaged(t *testing.T) {
	ctx := ctxT(t)
	src := openEmbedded(t)
	sp := must(src.CreateSpace(ctx, "family", loam.Private))(t)
	for i := range 20 {
		if err := sp.Put(ctx, fmt.Appendf(nil, "chat/%04d", i), fmt.Appendf(nil, "message %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	photo := bytes.Repeat([]byte("photo "), 300<<10) // 1.8 MiB: two data records
	if _, err := sp.PutBlob(ctx, []byte("photos/1"), bytes.NewReader(photo), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sp.Archive(ctx, &buf, loam.ArchiveOptions{WithKeys: true}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()

	dst := openEmbedded(t)
	// Where each record starts, by kind (format: docs/format/archive.md).
	at := map[byte][]int{}
	for off := 9; off < len(good); off += 5 + int(binary.BigEndian.Uint32(good[off+1:])) {
		at[good[off]] = append(at[good[off]], off)
	}
	if len(at['S']) != 1 || len(at['C']) < 20 || len(at['B']) != 1 || len(at['D']) != 2 || len(at['E']) != 1 {
		t.Fatalf("records: %v", at)
	}
	blobAt := at['D'][0]
	cases := map[string][]byte{}
	for name, at := range map[string]int{
		"magic": 0, "version": 8, "space record": 20, "space flags": 9 + 5 + 32 + 1 + len("family") + 8,
		"first commit": at['C'][0] + 20, "a commit's last byte": at['C'][1] - 1, "blob ID": at['B'][0] + 7, "blob size": at['B'][0] + 5 + 32 + 7,
		"blob data": blobAt + 1000, "data record length": blobAt + 2, "last blob byte": len(good) - 54, "end kind": at['E'][0],
		"end counts": len(good) - 45, "end hash": len(good) - 1,
	} {
		b := bytes.Clone(good)
		b[at] ^= 0x20
		cases["flipped: "+name] = b
	}
	for _, n := range []int{0, 5, 9, 60, 300, blobAt + 10, len(good) - 53, len(good) - 1} {
		cases[fmt.Sprintf("truncated to %d", n)] = good[:n]
	}
	cases["a byte after the end"] = append(bytes.Clone(good), 0)
	for name, b := range cases {
		_, err := dst.RestoreSpace(ctx, bytes.NewReader(b), loam.RestoreOptions{})
		if !errors.Is(err, loam.ErrBadArchive) && !errors.Is(err, loam.ErrArchiveRefused) {
			t.Errorf("%s: %v, want ErrBadArchive or ErrArchiveRefused", name, err)
			continue
		}
		if ss := must(dst.Spaces(ctx))(t); len(ss) != 0 {
			t.Fatalf("%s: the failed restore left %+v", name, ss)
		}
		if fs, _ := filepath.Glob(filepath.Join(dst.Home(), "spaces", "*")); len(fs) != 0 {
			t.Fatalf("%s: the failed restore left %q", name, fs)
		}
	}
	if _, err := dst.RestoreSpace(ctx, bytes.NewReader(good), loam.RestoreOptions{}); err != nil {
		t.Fatalf("the intact archive after the damaged ones: %v", err)
	}
	got := must(dst.Space(ctx, "family"))(t)
	if v := must(got.Get(ctx, []byte("chat/0019")))(t); string(v) != "message 19" {
		t.Errorf("chat/0019 = %q", v)
	}
	if b := blobOf(t, ctx, got, "photos/1"); !bytes.Equal(b, photo) {
		t.Errorf("the sealed blob reads back %d bytes", len(b))
	}
}

// TestArchivePrivateKeys: a private space's archive carries its read
// keys only with WithKeys. Without them it restores sealed (as a seeder
// holds it): it verifies, and reads fail with ErrNoReadKey; the archive
// cannot be restored under a name already taken.
func TestArchivePrivateKeys(t *testing.T) {
	ctx := ctxT(t)
	src := openEmbedded(t)
	sp := must(src.CreateSpace(ctx, "family", loam.Private))(t)
	if err := sp.Put(ctx, []byte("chat/1"), []byte("secret")); err != nil {
		t.Fatal(err)
	}
	var sealed, keyed bytes.Buffer
	if s := must(sp.Archive(ctx, &sealed, loam.ArchiveOptions{}))(t); s.ReadKeys || !s.Private {
		t.Errorf("archive without keys: %+v", s)
	}
	if bytes.Contains(sealed.Bytes(), []byte("secret")) {
		t.Error("the archive holds the private value in the clear")
	}
	if s := must(sp.Archive(ctx, &keyed, loam.ArchiveOptions{WithKeys: true}))(t); !s.ReadKeys {
		t.Errorf("archive with keys: %+v", s)
	}

	dst := openEmbedded(t)
	must(dst.CreateSpace(ctx, "family", loam.Public))(t)
	if _, err := dst.RestoreSpace(ctx, bytes.NewReader(sealed.Bytes()), loam.RestoreOptions{}); !errors.Is(err, loam.ErrNameTaken) {
		t.Errorf("restore under a taken name: %v", err)
	}
	must(dst.RestoreSpace(ctx, bytes.NewReader(sealed.Bytes()), loam.RestoreOptions{Name: "family-sealed"}))(t)
	got := must(dst.Space(ctx, "family-sealed"))(t)
	if _, err := got.Verify(ctx); err != nil {
		t.Errorf("verify: %v", err)
	}
	if _, err := got.Get(ctx, []byte("chat/1")); err == nil {
		t.Error("a reader without the read keys reads the private space")
	}

	other := openEmbedded(t)
	must(other.RestoreSpace(ctx, bytes.NewReader(keyed.Bytes()), loam.RestoreOptions{}))(t)
	if v, err := must(other.Space(ctx, "family"))(t).Get(ctx, []byte("chat/1")); err != nil || string(v) != "secret" {
		t.Errorf("with the read keys: %q, %v", v, err)
	}
}

// TestRestoreDamagedThroughDaemon: through a daemon, a cut-short archive
// and one with a flipped byte in a commit fail with the same error kinds as
// embedded (their codes map back), leave the daemon's node without the
// space, and a restore under a bad name is refused before any byte is
// read.
func TestRestoreDamagedThroughDaemon(t *testing.T) {
	ctx := ctxT(t)
	src := openEmbedded(t)
	sp := must(src.CreateSpace(ctx, "street", loam.Public))(t)
	if err := sp.Put(ctx, []byte("tools/drill"), []byte("cordless")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	must(sp.Archive(ctx, &buf, loam.ArchiveOptions{}))(t)
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(good)-60-64] ^= 1 // inside the last commit

	n := connect(t, startDaemon(t).home)
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"cut short":    {good[:len(good)-20], loam.ErrBadArchive},
		"flipped byte": {flipped, loam.ErrArchiveRefused},
	} {
		if _, err := n.RestoreSpace(ctx, bytes.NewReader(c.b), loam.RestoreOptions{}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if ss := must(n.Spaces(ctx))(t); len(ss) != 0 {
			t.Fatalf("%s: the failed restore left %+v", name, ss)
		}
	}
	if _, err := n.RestoreSpace(ctx, bytes.NewReader(good), loam.RestoreOptions{Name: "no spaces allowed"}); !errors.Is(err, loam.ErrBadName) {
		t.Errorf("a bad name: %v", err)
	}
	must(n.RestoreSpace(ctx, bytes.NewReader(good), loam.RestoreOptions{}))(t)
	if v := must(must(n.Space(ctx, "street"))(t).Get(ctx, []byte("tools/drill")))(t); string(v) != "cordless" {
		t.Errorf("tools/drill = %q", v)
	}
}
