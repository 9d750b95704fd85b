package archive

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// personSpace is the person's own space of the samples.
var personSpace = keys.SpaceID{0x50}

// identityFile returns an identity file of device dev (docs/format/identity.md
// §5, written out here as the format says), naming person's space when
// not zero.
func identityFile(dev keys.DeviceKey, person keys.SpaceID) []byte {
	k := identity.PhraseFromEntropy([32]byte{1}).Key()
	c, err := identity.NewCert(k, dev, "laptop", 1_800_000_000_000_000)
	if err != nil {
		panic(err)
	}
	space := ""
	if !person.IsZero() {
		space = "space " + person.String() + "\n"
	}
	return fmt.Appendf(nil, "loam-identity 1\nidentity %s\nname Ana\n%skey %s\ncert %s\n",
		k.ID(), space, k.Secret(), base64.RawURLEncoding.EncodeToString(c.Encode()))
}

// smallArchive returns an archive of space id with one commit and no blob.
func smallArchive(t testing.TB, id keys.SpaceID) []byte {
	var buf bytes.Buffer
	e, err := NewEncoder(&buf, Header{Space: id, Name: "Ana", Created: time.Unix(1700000000, 0), Private: true,
		ReadKeys: []keys.EpochKey{{Epoch: 0, Key: [32]byte{5}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Commit([]byte("commit")); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sampleBackup returns a backup of a new device key with a file, a held
// space and an archive, encrypted under "pass" (work factor 2^10), and
// its plaintext; withPerson adds the identity file (naming personSpace)
// and the person's space.
func sampleBackup(t testing.TB, withPerson bool) (enc, plain []byte, dev string) {
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
	if withPerson {
		if err := b.Identity(identityFile(dk, personSpace)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.File("spaces/"+id.String()+".readkeys", []byte("keys")); err != nil {
		t.Fatal(err)
	}
	if withPerson {
		w := b.Person(personSpace)
		w.Write(smallArchive(t, personSpace))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
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

// plainBackup builds a backup's plaintext from records, for the reader's
// refusals: version, then kind and body pairs (a string body each).
func plainBackup(version byte, recs ...any) []byte {
	b := append([]byte(BackupMagic), version)
	for i := 0; i < len(recs); i += 2 {
		kind, ok := recs[i].(byte)
		if !ok {
			kind = byte(recs[i].(rune))
		}
		body := recs[i+1].(string)
		b = binary.BigEndian.AppendUint32(append(b, kind), uint32(len(body)))
		b = append(b, body...)
	}
	return b
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
	for _, withPerson := range []bool{false, true} {
		enc, _, dev := sampleBackup(t, withPerson)
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
			case it.Identity != nil:
				if it.Identity.Person != personSpace || !it.Identity.HoldsKey() || it.Identity.Name != "Ana" {
					t.Errorf("identity %+v", it.Identity)
				}
				kinds = append(kinds, "identity")
			case it.File != "":
				kinds = append(kinds, "file "+it.File+"="+string(it.Data))
			case it.Held != nil:
				kinds = append(kinds, "held "+it.Name)
			case it.Person:
				if h, items, _, err := decodeAllReader(it.R); err != nil || len(items) != 1 || h.Space != personSpace || *it.Archive != personSpace {
					t.Fatalf("the person's space in the backup: %d items, %v", len(items), err)
				}
				kinds = append(kinds, "person")
			case it.Archive != nil:
				if _, items, _, err := decodeAllReader(it.R); err != nil || len(items) != 4 {
					t.Fatalf("the archive in the backup: %d items, %v", len(items), err)
				}
				kinds = append(kinds, "archive")
			}
		}
		want := "file spaces/" + keys.SpaceID{7}.String() + ".readkeys=keys,held family,archive"
		if withPerson {
			want = "identity,file spaces/" + keys.SpaceID{7}.String() + ".readkeys=keys,person,held family,archive"
		}
		if got := strings.Join(kinds, ","); got != want {
			t.Errorf("items %s, want %s", got, want)
		}
		if _, _, err := OpenBackup(bytes.NewReader(enc), "wrong", 0); !errors.Is(err, ErrPassphrase) {
			t.Errorf("wrong passphrase: %v", err)
		}
	}
}

// TestBackupStrict: every truncation of the plaintext fails with
// ErrBadBackup (a flipped bit is age's to find: its payload is
// authenticated); a file name that leaves the home is refused.
func TestBackupStrict(t *testing.T) {
	for _, withPerson := range []bool{false, true} {
		_, plain, _ := sampleBackup(t, withPerson)
		for i := 0; i < len(plain); i += max(1, i/40) {
			if _, err := readAllBackup(plain[:i]); !errors.Is(err, ErrBadBackup) {
				t.Fatalf("truncated to %d of %d: %v", i, len(plain), err)
			}
		}
	}
	for _, name := range []string{"../device.key", "spaces/../../x", "device.key", "spaces/spc_x.key", "store/MANIFEST", "identity"} {
		if BackupFileAllowed(name) {
			t.Errorf("%q is allowed", name)
		}
	}
}

// TestBackupV2Refusals: the identity and the person's space only in their
// place, once, and only as the identity names them; version 1 still
// reads, without them.
func TestBackupV2Refusals(t *testing.T) {
	dk := keys.DeviceKeyFromSeed([32]byte{2})
	other := keys.DeviceKeyFromSeed([32]byte{3})
	k, kb := byte(bkDevice), dk.String()
	idf := string(identityFile(dk, personSpace))
	noSpace := string(identityFile(dk, keys.SpaceID{}))
	arch := string(smallArchive(t, personSpace))
	file := "\x0apeers.cbor" + "x"
	e, eb := byte(bkEnd), ""
	P := string(personSpace[:])
	good := [][]byte{
		plainBackup(1, k, kb, bkFile, file, e, eb),
		plainBackup(2, k, kb, e, eb),
		plainBackup(2, k, kb, bkIdentity, noSpace, bkFile, file, e, eb),
		plainBackup(2, k, kb, bkIdentity, idf, bkFile, file, bkPerson, P, bkData, arch, bkArchEnd, "", bkHeld, P+"\x03Ana", e, eb),
		plainBackup(2, k, kb, bkIdentity, idf, e, eb), // its person's space not held when backed up
	}
	for i, b := range good {
		if _, err := readAllBackup(b); err != nil {
			t.Errorf("good %d: %v", i, err)
		}
	}
	seven := keys.SpaceID{7}
	for name, c := range map[string]struct {
		want string
		b    []byte
	}{
		"identity in version 1":         {"in a version 1 backup", plainBackup(1, k, kb, bkIdentity, idf, e, eb)},
		"person in version 1":           {"in a version 1 backup", plainBackup(1, k, kb, bkPerson, P, bkArchEnd, "", e, eb)},
		"version 3":                     {"format version 3", plainBackup(3, k, kb, e, eb)},
		"version 0":                     {"format version 0", plainBackup(0, k, kb, e, eb)},
		"identity twice":                {"out of its place", plainBackup(2, k, kb, bkIdentity, idf, bkIdentity, idf, e, eb)},
		"identity after a file":         {"out of its place", plainBackup(2, k, kb, bkFile, file, bkIdentity, idf, e, eb)},
		"identity of another device":    {"not of this device", plainBackup(2, k, other.String(), bkIdentity, idf, e, eb)},
		"identity not an identity file": {"malformed identity file", plainBackup(2, k, kb, bkIdentity, "loam-identity 1\n", e, eb)},
		"identity too large":            {"the limit is 4096", plainBackup(2, k, kb, bkIdentity, idf+strings.Repeat("x", 5000), e, eb)},
		"person without identity":       {"which its identity does not name", plainBackup(2, k, kb, bkPerson, P, bkData, arch, bkArchEnd, "", e, eb)},
		"person not named":              {"which its identity does not name", plainBackup(2, k, kb, bkIdentity, noSpace, bkPerson, P, bkData, arch, bkArchEnd, "", e, eb)},
		"person of another space":       {"which its identity does not name", plainBackup(2, k, kb, bkIdentity, idf, bkPerson, string(seven[:]), bkData, arch, bkArchEnd, "", e, eb)},
		"person twice":                  {"out of its place", plainBackup(2, k, kb, bkIdentity, idf, bkPerson, P, bkData, arch, bkArchEnd, "", bkPerson, P, bkData, arch, bkArchEnd, "", e, eb)},
		"person after held":             {"out of its place", plainBackup(2, k, kb, bkIdentity, idf, bkHeld, P+"\x03Ana", bkPerson, P, bkData, arch, bkArchEnd, "", e, eb)},
		"person before identity file":   {"which its identity does not name", plainBackup(2, k, kb, bkPerson, P, bkArchEnd, "", bkIdentity, idf, e, eb)},
		"unknown kind":                  {"unknown record kind", plainBackup(2, k, kb, 'Z', "", e, eb)},
		"device key twice":              {"out of its place", plainBackup(2, k, kb, k, kb, e, eb)},
	} {
		if _, err := readAllBackup(c.b); !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadBackup: …%s…", name, err, c.want)
		}
	}
}

func FuzzBackupPlain(f *testing.F) {
	_, plain, _ := sampleBackup(f, false)
	f.Add(plain)
	f.Add(plain[:60])
	f.Add([]byte(BackupMagic + "\x01"))
	_, plain2, _ := sampleBackup(f, true)
	f.Add(plain2[:4096]) // the device key, the identity file, the first file
	dk := keys.DeviceKeyFromSeed([32]byte{2})
	f.Add(plainBackup(2, bkDevice, dk.String(), bkIdentity, string(identityFile(dk, personSpace)),
		bkPerson, string(personSpace[:]), bkData, string(smallArchive(f, personSpace)), bkArchEnd, "", bkEnd, ""))
	v1 := bytes.Clone(plain)
	v1[len(BackupMagic)] = 1
	f.Add(v1[:8192])
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
			if it.Person && (r.person.IsZero() || *it.Archive != r.person) {
				t.Fatalf("person's space %s accepted, the identity names %s", it.Archive, r.person)
			}
			if it.R != nil {
				io.Copy(io.Discard, it.R)
			}
		}
	})
}
