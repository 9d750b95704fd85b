package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

// BackupItem is one thing a backup holds after its device key.
type BackupItem struct {
	File string // a home file's name, with Data
	Data []byte
	// Identity is the identity file, decoded against the backup's device
	// key as Open decodes it; its bytes are Data.
	Identity *node.Identity
	Held     *keys.SpaceID // a space held, with Name
	Name     string
	Archive  *keys.SpaceID // a space's archive, with R
	R        io.Reader     // its bytes; what Next's caller leaves unread, Next skips
	// Person: Archive is the person's own space, the one Identity names.
	Person bool
}

// BackupReader reads a backup strictly. It is not safe for concurrent use.
type BackupReader struct {
	r       *bufio.Reader
	version byte
	dev     keys.AuthorID // the device's, whose certificate the identity file holds
	person  keys.SpaceID  // the person's space the identity file names, if any
	stage   byte          // the kind of the last record: order is checked
	arch    *archReader   // the archive being read, or nil
	done    bool
	err     error // sticky
}

// OpenBackup decrypts a backup with passphrase (refusing scrypt work
// factors over 2^maxLogN; 0 means age's default bound) and reads its
// device key.
func OpenBackup(r io.Reader, passphrase string, maxLogN int) (*BackupReader, string, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrPassphrase, err)
	}
	if maxLogN > 0 {
		id.SetMaxWorkFactor(maxLogN)
	}
	pr, err := age.Decrypt(r, id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, "", fmt.Errorf("%w (check it, or the file was damaged)", ErrPassphrase)
		}
		return nil, "", badBackup("it is not an encrypted Loam backup, or it was damaged: %v", err)
	}
	return readBackup(pr)
}

// readBackup reads a backup's plaintext up to its device key.
func readBackup(pr io.Reader) (*BackupReader, string, error) {
	b := &BackupReader{r: bufio.NewReaderSize(pr, 64<<10)}
	var pre [len(BackupMagic) + 1]byte
	if err := b.full(pre[:]); err != nil {
		return nil, "", err
	}
	if string(pre[:len(BackupMagic)]) != BackupMagic {
		return nil, "", badBackup("it does not hold a Loam backup (is it a file of 'loam backup create'?)")
	}
	b.version = pre[len(BackupMagic)]
	if b.version < 1 || b.version > BackupVersion {
		return nil, "", badBackup("format version %d; this Loam reads versions 1 to %d (upgrade Loam)", b.version, BackupVersion)
	}
	kind, body, err := b.record(maxDeviceKey)
	if err != nil {
		return nil, "", err
	}
	if kind != bkDevice {
		return nil, "", badBackup("first record is %q, not the device key", kind)
	}
	dk, err := keys.ParseDeviceKey(string(body))
	if err != nil {
		return nil, "", badBackup("its device key: %v", err)
	}
	b.dev = dk.Author()
	b.stage = bkDevice
	return b, string(body), nil
}

func (b *BackupReader) full(p []byte) error {
	if _, err := io.ReadFull(b.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return badBackup("it ends too early (truncated: copy it again)")
		}
		return badBackup("it was damaged (%v): copy it again", err)
	}
	return nil
}

func (b *BackupReader) head(max int) (byte, int, error) { return readHead(b.full, badBackup, max) }

func (b *BackupReader) record(max int) (byte, []byte, error) {
	return readRecord(b.full, badBackup, max)
}

// order is the rank of each kind in a backup's order ('D' and 'Y' are
// read within an archive).
var order = map[byte]int{bkDevice: 0, bkIdentity: 1, bkFile: 2, bkPerson: 3, bkHeld: 4, bkArchive: 5, bkEnd: 6}

// once are the kinds a backup holds at most once.
var once = map[byte]bool{bkDevice: true, bkIdentity: true, bkPerson: true, bkEnd: true}

// Err returns the error that stopped the reader, if any: the cause of an
// error of an archive's reader.
func (b *BackupReader) Err() error { return b.err }

// Next returns the next item, or io.EOF once the end is read and checked.
// Any other error is sticky.
func (b *BackupReader) Next() (BackupItem, error) { return sticky(&b.err, b.next) }

func (b *BackupReader) next() (BackupItem, error) {
	if b.done {
		return BackupItem{}, io.EOF
	}
	if a := b.arch; a != nil {
		if _, err := io.Copy(io.Discard, a); err != nil {
			return BackupItem{}, err
		}
		b.arch = nil
	}
	kind, body, err := b.record(MaxBackupFile + 1 + 255)
	if err != nil {
		return BackupItem{}, err
	}
	if b.version == 1 && (kind == bkIdentity || kind == bkPerson) {
		return BackupItem{}, badBackup("record %q in a version 1 backup", kind)
	}
	rank, ok := order[kind]
	if !ok {
		return BackupItem{}, badBackup("unknown record kind %#x", kind)
	}
	if rank < order[b.stage] || kind == b.stage && once[kind] {
		return BackupItem{}, badBackup("record %q out of its place", kind)
	}
	b.stage = kind
	switch kind {
	case bkIdentity:
		if len(body) > node.MaxIdentityFile {
			return BackupItem{}, badBackup("an identity file of %d bytes, the limit is %d", len(body), node.MaxIdentityFile)
		}
		id, err := node.DecodeIdentityFile(body, b.dev)
		if err != nil {
			return BackupItem{}, badBackup("its identity file: %v", err)
		}
		b.person = id.Person
		return BackupItem{Identity: &id, Data: body}, nil
	case bkFile:
		if len(body) < 1 || len(body) < 1+int(body[0]) {
			return BackupItem{}, badBackup("file record of %d bytes", len(body))
		}
		name := string(body[1 : 1+body[0]])
		data := body[1+body[0]:]
		if !BackupFileAllowed(name) || len(data) > MaxBackupFile {
			return BackupItem{}, badBackup("it holds the file %q, which no backup carries", name)
		}
		return BackupItem{File: name, Data: data}, nil
	case bkHeld:
		if len(body) < keys.Size+2 || int(body[keys.Size]) != len(body)-keys.Size-1 || len(body)-keys.Size-1 > MaxNameSize {
			return BackupItem{}, badBackup("space record of %d bytes", len(body))
		}
		var id keys.SpaceID
		copy(id[:], body)
		return BackupItem{Held: &id, Name: string(body[keys.Size+1:])}, nil
	case bkArchive, bkPerson:
		if len(body) != keys.Size {
			return BackupItem{}, badBackup("archive record of %d bytes", len(body))
		}
		var id keys.SpaceID
		copy(id[:], body)
		if kind == bkPerson && (b.person.IsZero() || id != b.person) {
			return BackupItem{}, badBackup("it holds %s as the person's space, which its identity does not name", id)
		}
		b.arch = &archReader{b: b}
		return BackupItem{Archive: &id, R: b.arch, Person: kind == bkPerson}, nil
	case bkEnd:
		if len(body) != 0 {
			return BackupItem{}, badBackup("end record of %d bytes", len(body))
		}
		if _, err := b.r.ReadByte(); err != io.EOF {
			if err == nil {
				return BackupItem{}, badBackup("data after its end")
			}
			return BackupItem{}, badBackup("it was damaged (%v): copy it again", err)
		}
		b.done = true
		return BackupItem{}, io.EOF
	}
	return BackupItem{}, badBackup("record %q out of its place", kind)
}

// archReader reads the 'D' records of an archive up to its 'Y'.
type archReader struct {
	b    *BackupReader
	rec  int // bytes of the current 'D' record not yet read
	done bool
}

func (a *archReader) Read(p []byte) (int, error) {
	b := a.b
	if b.err != nil {
		return 0, b.err
	}
	for a.rec == 0 {
		if a.done {
			return 0, io.EOF
		}
		kind, n, err := b.head(BlobDataSize)
		switch {
		case err != nil:
		case kind == bkArchEnd && n == 0:
			a.done = true
			continue
		case kind != bkData || n == 0:
			err = badBackup("an archive cut short by record %q of %d bytes", kind, n)
		}
		if err != nil {
			b.err = err
			return 0, err
		}
		a.rec = n
	}
	p = p[:min(len(p), a.rec)]
	n, err := io.ReadFull(b.r, p)
	a.rec -= n
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = badBackup("it ends too early (truncated: copy it again)")
		} else {
			err = badBackup("it was damaged (%v): copy it again", err)
		}
		b.err = err
		return n, err
	}
	return n, nil
}
