package archive

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"filippo.io/age"

	"github.com/loamdb/loam/internal/keys"
)

// sampleBackup returns a backup of a new device key with a file, a held
// space and an archive, encrypted under "pass" (work factor 2^10), and
// its plaintext.
func sampleBackup(t testing.TB) (enc, plain []byte, dev string) {
	dk, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	id := keys.SpaceID{7}
	var buf bytes.Buffer
	b, err := NewBackupWriter(&buf, "pass", 10, dk.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.File("spaces/"+id.String()+".readkeys", []byte("keys")); err != nil {
		t.Fatal(err)
	}
	if err := b.Held(id, "family"); err != nil {
		t.Fatal(err)
	}
	w := b.Archive(id)
	w.Write(sample(t))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ident, _ := age.NewScryptIdentity("pass")
	r, err := age.Decrypt(bytes.NewReader(buf.Bytes()), ident)
	if err != nil {
		t.Fatal(err)
	}
	plain, err = io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), plain, dk.String()
}

// readAllBackup reads every item of a backup's plaintext, each archive
// through the archive decoder.
func readAllBackup(plain []byte) (int, error) {
	b, _, err := readBackup(bytes.NewReader(plain))
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		it, err := b.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if it.R != nil {
			if _, _, _, err := decodeAllReader(it.R); err != nil && b.Err() != nil {
				return n, b.Err()
			}
		}
	}
}

func decodeAllReader(r io.Reader) (Header, []Item, [][]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Header{}, nil, nil, err
	}
	return decodeAll(b)
}

func TestBackupRoundTrip(t *testing.T) {
	enc, _, dev := sampleBackup(t)
	b, got, err := OpenBackup(bytes.NewReader(enc), "pass", 0)
	if err != nil || got != dev {
		t.Fatalf("OpenBackup: %v (device key equal: %v)", err, got == dev)
	}
	var kinds []string
	for {
		it, err := b.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case it.File != "":
			kinds = append(kinds, "file "+it.File+"="+string(it.Data))
		case it.Held != nil:
			kinds = append(kinds, "held "+it.Name)
		case it.Archive != nil:
			if _, items, _, err := decodeAllReader(it.R); err != nil || len(items) != 4 {
				t.Fatalf("the archive in the backup: %d items, %v", len(items), err)
			}
			kinds = append(kinds, "archive")
		}
	}
	if len(kinds) != 3 || kinds[1] != "held family" || kinds[2] != "archive" {
		t.Errorf("items %q", kinds)
	}
	if _, _, err := OpenBackup(bytes.NewReader(enc), "wrong", 0); !errors.Is(err, ErrPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
}

// TestBackupStrict: every truncation of the plaintext fails with
// ErrBadBackup (a flipped bit is age's to find: its payload is
// authenticated); a file name that leaves the home is refused.
func TestBackupStrict(t *testing.T) {
	_, plain, _ := sampleBackup(t)
	for i := 0; i < len(plain); i += max(1, i/40) {
		if _, err := readAllBackup(plain[:i]); !errors.Is(err, ErrBadBackup) {
			t.Fatalf("truncated to %d of %d: %v", i, len(plain), err)
		}
	}
	for _, name := range []string{"../device.key", "spaces/../../x", "device.key", "spaces/spc_x.key", "store/MANIFEST"} {
		if BackupFileAllowed(name) {
			t.Errorf("%q is allowed", name)
		}
	}
}

func FuzzBackupPlain(f *testing.F) {
	_, plain, _ := sampleBackup(f)
	f.Add(plain)
	f.Add(plain[:60])
	f.Add([]byte(BackupMagic + "\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := readBackup(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("error not wrapping ErrBadBackup: %v", err)
			}
			return
		}
		for {
			it, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrBadBackup) {
					t.Fatalf("error not wrapping ErrBadBackup: %v", err)
				}
				return
			}
			if it.File != "" && !BackupFileAllowed(it.File) {
				t.Fatalf("file %q accepted", it.File)
			}
			if it.R != nil {
				io.Copy(io.Discard, it.R)
			}
		}
	})
}
