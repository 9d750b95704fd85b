package archive

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"

	"filippo.io/age"

	"github.com/loamdb/loam/internal/keys"
)

// The backup format, version 1 (docs/format/archive.md §6): an age file
// (scrypt recipient: a passphrase) whose plaintext is
//
//	backup = "LOAMBKUP" 0x01 record*
//	record = kind(1) length(4, big-endian) body(length)
//
// with, in this order: one 'K' (the device key, as in HOME/device.key);
// 'F' records (files of the home: the spaces' secret, read-key and
// invite-key files, the peer book); 'H' records (the spaces held, each to
// hold again); per space archived, one 'A' (its ID) then 'D' records
// (its archive's bytes, 1..BlobDataSize each) then one empty 'Y'; then
// one empty 'E'. Kinds 'I' (the person's identity) and 'P' (the person's
// space) are reserved for version 2 (issue 12): a version 1 reader
// refuses them as made by a newer Loam.
const (
	BackupMagic   = "LOAMBKUP"
	BackupVersion = 1

	bkDevice   = 'K'
	bkFile     = 'F'
	bkHeld     = 'H'
	bkArchive  = 'A'
	bkData     = 'D'
	bkArchEnd  = 'Y'
	bkEnd      = 'E'
	bkIdentity = 'I' // reserved: version 2
	bkPerson   = 'P' // reserved: version 2

	// MaxBackupFile bounds one home file in a backup.
	MaxBackupFile = 1 << 20
	maxDeviceKey  = 256
)

// Errors of backups.
var (
	// ErrBadBackup: the file is not a Loam backup this version reads, or
	// it was damaged or cut short.
	ErrBadBackup = errors.New("not a valid Loam backup")
	// ErrPassphrase: the passphrase does not open the backup.
	ErrPassphrase = errors.New("the passphrase does not open this backup")
)

// backupFiles are the names of the home files a backup may carry: a
// restore writes no other (no path leaves the home).
var backupFiles = regexp.MustCompile(`^(peers\.cbor|spaces/spc_[a-z2-7]{52}\.(key|readkeys|invites))$`)

// BackupFileAllowed reports whether a backup may carry the home file name.
func BackupFileAllowed(name string) bool { return backupFiles.MatchString(name) }

func badBackup(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadBackup, fmt.Sprintf(format, args...))
}

// BackupWriter writes a backup. It is not safe for concurrent use.
type BackupWriter struct {
	age  io.WriteCloser
	w    *bufio.Writer
	data []byte // the archive being written, not yet framed
	in   bool   // an archive is being written
	err  error
}

// NewBackupWriter starts a backup encrypted under passphrase (scrypt work
// factor logN; 0 means age's default), of the device key deviceKey.
func NewBackupWriter(w io.Writer, passphrase string, logN int, deviceKey string) (*BackupWriter, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("archive: backup: %w", err)
	}
	if logN > 0 {
		r.SetWorkFactor(logN)
	}
	aw, err := age.Encrypt(w, r)
	if err != nil {
		return nil, fmt.Errorf("archive: backup: %w", err)
	}
	b := &BackupWriter{age: aw, w: bufio.NewWriterSize(aw, 64<<10)}
	b.write(append([]byte(BackupMagic), BackupVersion))
	b.record(bkDevice, []byte(deviceKey))
	return b, b.err
}

func (b *BackupWriter) write(p []byte) {
	if b.err == nil {
		if _, err := b.w.Write(p); err != nil {
			b.err = fmt.Errorf("archive: backup: write: %w", err)
		}
	}
}

func (b *BackupWriter) record(kind byte, body []byte) {
	var hd [recordHeader]byte
	hd[0] = kind
	binary.BigEndian.PutUint32(hd[1:], uint32(len(body)))
	b.write(hd[:])
	b.write(body)
}

// File adds a home file (see BackupFileAllowed).
func (b *BackupWriter) File(name string, data []byte) error {
	if !BackupFileAllowed(name) || len(data) > MaxBackupFile {
		return fmt.Errorf("archive: backup: file %q of %d bytes is not one a backup carries", name, len(data))
	}
	b.record(bkFile, append(append([]byte{byte(len(name))}, name...), data...))
	return b.err
}

// Held adds a space held under name.
func (b *BackupWriter) Held(id keys.SpaceID, name string) error {
	if len(name) == 0 || len(name) > MaxNameSize {
		return fmt.Errorf("archive: backup: space name of %d bytes", len(name))
	}
	b.record(bkHeld, append(append(append([]byte(nil), id[:]...), byte(len(name))), name...))
	return b.err
}

// Archive starts the archive of space id: write it to the returned
// writer, then close that.
func (b *BackupWriter) Archive(id keys.SpaceID) io.WriteCloser {
	b.record(bkArchive, id[:])
	b.in = true
	return archiveWriter{b}
}

type archiveWriter struct{ b *BackupWriter }

func (a archiveWriter) Write(p []byte) (int, error) {
	b := a.b
	n := len(p)
	for len(p) > 0 && b.err == nil {
		k := min(len(p), BlobDataSize)
		b.record(bkData, p[:k])
		p = p[k:]
	}
	if b.err != nil {
		return 0, b.err
	}
	return n, nil
}

func (a archiveWriter) Close() error {
	a.b.record(bkArchEnd, nil)
	a.b.in = false
	return a.b.err
}

// Close ends the backup and its encryption. It does not close the
// underlying writer.
func (b *BackupWriter) Close() error {
	b.record(bkEnd, nil)
	if b.err == nil {
		if err := b.w.Flush(); err != nil {
			b.err = err
		}
	}
	if err := b.age.Close(); err != nil && b.err == nil {
		b.err = fmt.Errorf("archive: backup: %w", err)
	}
	return b.err
}

// BackupItem is one thing a backup holds after its device key.
type BackupItem struct {
	File    string // a home file's name, with Data
	Data    []byte
	Held    *keys.SpaceID // a space held, with Name
	Name    string
	Archive *keys.SpaceID // a space's archive, with R
	R       io.Reader     // its bytes; what Next's caller leaves unread, Next skips
}

// BackupReader reads a backup strictly. It is not safe for concurrent use.
type BackupReader struct {
	r     *bufio.Reader
	stage byte        // the kind of the last record: order is checked
	arch  *archReader // the archive being read, or nil
	done  bool
	err   error // sticky
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
	if pre[len(BackupMagic)] != BackupVersion {
		return nil, "", badBackup("format version %d; this Loam reads version %d (upgrade Loam)", pre[len(BackupMagic)], BackupVersion)
	}
	kind, body, err := b.record(maxDeviceKey)
	if err != nil {
		return nil, "", err
	}
	if kind != bkDevice {
		return nil, "", badBackup("first record is %q, not the device key", kind)
	}
	if _, err := keys.ParseDeviceKey(string(body)); err != nil {
		return nil, "", badBackup("its device key: %v", err)
	}
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

func (b *BackupReader) head(max int) (byte, int, error) {
	var hd [recordHeader]byte
	if err := b.full(hd[:]); err != nil {
		return 0, 0, err
	}
	n := binary.BigEndian.Uint32(hd[1:])
	if int64(n) > int64(max) {
		return 0, 0, badBackup("record %q of %d bytes, the limit is %d", hd[0], n, max)
	}
	return hd[0], int(n), nil
}

func (b *BackupReader) record(max int) (byte, []byte, error) {
	kind, n, err := b.head(max)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, n)
	return kind, body, b.full(body)
}

// order is the rank of each kind in a backup's order.
var order = map[byte]int{bkDevice: 0, bkFile: 1, bkHeld: 2, bkArchive: 3, bkEnd: 4}

// Err returns the error that stopped the reader, if any: the cause of an
// error of an archive's reader.
func (b *BackupReader) Err() error { return b.err }

// Next returns the next item, or io.EOF once the end is read and checked.
// Any other error is sticky.
func (b *BackupReader) Next() (BackupItem, error) {
	if b.err != nil {
		return BackupItem{}, b.err
	}
	it, err := b.next()
	if err != nil {
		b.err = err
	}
	return it, err
}

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
	switch kind {
	case bkIdentity, bkPerson:
		return BackupItem{}, badBackup("it holds an identity or a person's space: it was made by a newer Loam (upgrade Loam)")
	}
	rank, ok := order[kind]
	if !ok {
		return BackupItem{}, badBackup("unknown record kind %#x", kind)
	}
	if rank < order[b.stage] {
		return BackupItem{}, badBackup("record %q out of its place", kind)
	}
	b.stage = kind
	switch kind {
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
	case bkArchive:
		if len(body) != keys.Size {
			return BackupItem{}, badBackup("archive record of %d bytes", len(body))
		}
		var id keys.SpaceID
		copy(id[:], body)
		b.arch = &archReader{b: b}
		return BackupItem{Archive: &id, R: b.arch}, nil
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
