package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"

	"filippo.io/age"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

// The backup format, version 2 (docs/format/archive.md §6): an age file
// (scrypt recipient: a passphrase) whose plaintext is
//
//	backup = "LOAMBKUP" version(1) record*
//	record = kind(1) length(4, big-endian) body(length)
//
// with, in this order: one 'K' (the device key, as in HOME/device.key);
// at most one 'I' (the identity file, HOME/identity, verbatim); 'F'
// records (files of the home: the spaces' secret, read-key and invite-key
// files, the peer book); at most one 'P' (the person's own space, named
// by the identity file: its archive, in 'D' records, then an empty 'Y');
// 'H' records (the spaces held, each to hold again); per space archived,
// one 'A' (its ID) then 'D' records (its archive's bytes,
// 1..BlobDataSize each) then one empty 'Y'; then one empty 'E'.
//
// Version 1 is the same without 'I' and 'P'; it is still read, and a
// version 1 backup holding either is refused.
const (
	BackupMagic   = "LOAMBKUP"
	BackupVersion = 2

	bkDevice   = 'K'
	bkIdentity = 'I' // version 2
	bkFile     = 'F'
	bkPerson   = 'P' // version 2
	bkHeld     = 'H'
	bkArchive  = 'A'
	bkData     = 'D'
	bkArchEnd  = 'Y'
	bkEnd      = 'E'

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
	rank int    // the rank (order) of the last record written
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
	if b.err == nil && kind != bkData && kind != bkArchEnd {
		if rank := order[kind]; rank < b.rank {
			b.err = fmt.Errorf("archive: backup: record %q out of its place (internal error)", kind)
		} else {
			b.rank = rank
		}
	}
	hd := recordHead(kind, len(body))
	b.write(hd[:])
	b.write(body)
}

// Identity adds the identity file, HOME/identity, as it is (at most
// node.MaxIdentityFile bytes): before any File. A restore checks it
// against the device key as Open does.
func (b *BackupWriter) Identity(file []byte) error {
	if len(file) == 0 || len(file) > node.MaxIdentityFile {
		return fmt.Errorf("archive: backup: an identity file of %d bytes", len(file))
	}
	if b.rank >= order[bkIdentity] {
		return errors.New("archive: backup: the identity after other records (internal error)")
	}
	b.record(bkIdentity, file)
	return b.err
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

// Person starts the archive of the person's own space id, the space the
// identity file names (after the files, before any Held): write it to the
// returned writer, then close that.
func (b *BackupWriter) Person(id keys.SpaceID) io.WriteCloser {
	if b.err == nil && b.rank >= order[bkPerson] {
		b.err = errors.New("archive: backup: the person's space after other records, or twice (internal error)")
	}
	b.record(bkPerson, id[:])
	b.in = true
	return archiveWriter{b}
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
