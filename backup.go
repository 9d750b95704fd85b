package loam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/loamdb/loam/internal/archive"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

// Errors of backups.
var (
	// ErrBadBackup: the file is not a Loam backup this version reads, or
	// it was damaged or cut short. Nothing was restored.
	ErrBadBackup = archive.ErrBadBackup
	// ErrPassphrase: the passphrase does not open the backup. Nothing
	// was restored.
	ErrPassphrase = archive.ErrPassphrase
	// ErrHomeInUse: the home a backup is restored onto already has a
	// device key. Nothing was restored.
	ErrHomeInUse = errors.New("the home already has a device key")
)

// backupLogN is the scrypt work factor of new backups (2^backupLogN; 0:
// age's default, about a second). Tests lower it.
var backupLogN = 0

// BackupOptions configure Node.Backup.
type BackupOptions struct {
	// Passphrase encrypts the backup (age, scrypt). It must not be empty.
	Passphrase string
	// Spaces (names or IDs) whose archives the backup carries: their
	// commits and the blobs held. The other spaces held are listed, to
	// return from peers after a restore.
	Spaces []string
	// Progress, if not nil, is called with the bytes written so far.
	Progress func(bytes int64)
}

// BackupSummary says what a backup holds, or what a restore restored.
type BackupSummary struct {
	Author string `json:"author"` // the device's author ID
	// Identity is the person's identity ID (idt_…) when the device holds
	// one, and IdentityKey whether the backup holds its key: then anyone
	// with the backup and its passphrase can act as the person.
	Identity    string           `json:"identity,omitempty"`
	IdentityKey bool             `json:"identity_key,omitempty"`
	Files       int              `json:"files"`    // key files and the peer book
	Spaces      []SpaceInfo      `json:"spaces"`   // the spaces held
	Archives    []ArchiveSummary `json:"archives"` // the spaces with their data
	// Person is the person's own space (spc_…) when the backup holds it:
	// its archive, with its read keys, is the first of Archives.
	Person string `json:"person,omitempty"`
	Bytes  int64  `json:"bytes"` // the backup's size
}

// Backup writes a backup of the node's home to w, encrypted under
// o.Passphrase (docs/format/archive.md §6): the device key, the identity
// file if the device holds an identity (with the identity key, unless it
// lives only in the recovery phrase), the spaces' secret, read-key and
// invite-key files, the peer book, the person's own space with its read
// keys when the node holds it, the list of the spaces held and, for
// o.Spaces, their archives. RestoreBackup restores it onto a fresh home.
// It works through a daemon too: the home's files are read here, the
// archives made by the daemon.
func (n *Node) Backup(ctx context.Context, w io.Writer, o BackupOptions) (BackupSummary, error) {
	if o.Passphrase == "" {
		return BackupSummary{}, errors.New("loam: backup: the passphrase is empty: choose one (it is needed to restore)")
	}
	home := n.Home()
	dev, err := keys.LoadDeviceKey(home)
	if err != nil {
		return BackupSummary{}, fmt.Errorf("loam: backup: %w", err)
	}
	idFile, ident, err := readIdentityFile(home, dev.Author())
	if err != nil {
		return BackupSummary{}, err
	}
	held, err := n.Spaces(ctx)
	if err != nil {
		return BackupSummary{}, err
	}
	var person *Space // the person's own space, when held here
	if ident != nil && !ident.Person.IsZero() {
		// Private, as the node makes it: a restore refuses any other.
		if i := slices.IndexFunc(held, func(s SpaceInfo) bool { return s.ID == ident.Person.String() && s.Private }); i >= 0 {
			if person, err = n.Space(ctx, held[i].ID); err != nil {
				return BackupSummary{}, err
			}
		}
	}
	var archived []*Space
	for _, ref := range o.Spaces {
		sp, err := n.Space(ctx, ref)
		if err != nil {
			return BackupSummary{}, err
		}
		if person == nil || sp.ID() != person.ID() { // the person's space is in anyway
			archived = append(archived, sp)
		}
	}
	files, err := backupFiles(home)
	if err != nil {
		return BackupSummary{}, err
	}
	cw := &counter{w: w, progress: o.Progress}
	bw, err := archive.NewBackupWriter(cw, o.Passphrase, backupLogN, dev.String())
	if err != nil {
		return BackupSummary{}, err
	}
	sum := BackupSummary{Author: dev.Author().String(), Spaces: held, Archives: []ArchiveSummary{}}
	if ident != nil {
		if err := bw.Identity(idFile); err != nil {
			return BackupSummary{}, err
		}
		sum.Identity, sum.IdentityKey = ident.ID.String(), ident.HoldsKey()
	}
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(home, name))
		if err != nil {
			return BackupSummary{}, fmt.Errorf("loam: backup: %w", err)
		}
		if err := bw.File(name, b); err != nil {
			return BackupSummary{}, err
		}
		sum.Files++
	}
	if person != nil {
		aw := bw.Person(ident.Person)
		as, err := person.Archive(ctx, aw, ArchiveOptions{WithKeys: true})
		if err != nil {
			return BackupSummary{}, err
		}
		if err := aw.Close(); err != nil {
			return BackupSummary{}, err
		}
		sum.Archives = append(sum.Archives, as)
		sum.Person = person.ID()
	}
	for _, in := range held {
		id, err := keys.ParseSpaceID(in.ID)
		if err != nil {
			return BackupSummary{}, err
		}
		if err := bw.Held(id, in.Name); err != nil {
			return BackupSummary{}, err
		}
	}
	for _, sp := range archived {
		id, err := keys.ParseSpaceID(sp.ID())
		if err != nil {
			return BackupSummary{}, err
		}
		aw := bw.Archive(id)
		as, err := sp.Archive(ctx, aw, ArchiveOptions{})
		if err != nil {
			return BackupSummary{}, err
		}
		if err := aw.Close(); err != nil {
			return BackupSummary{}, err
		}
		sum.Archives = append(sum.Archives, as)
	}
	if err := bw.Close(); err != nil {
		return BackupSummary{}, err
	}
	sum.Bytes = cw.n
	return sum, nil
}

// readIdentityFile reads the home's identity file, if any, and decodes it
// as Open does against device dev.
func readIdentityFile(home string, dev keys.AuthorID) ([]byte, *node.Identity, error) {
	f, err := os.Open(filepath.Join(home, node.IdentityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("loam: backup: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, node.MaxIdentityFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("loam: backup: %w", err)
	}
	id, err := node.DecodeIdentityFile(b, dev)
	if err != nil {
		return nil, nil, fmt.Errorf("loam: backup: %s: %w (nothing was written)", f.Name(), err)
	}
	return b, &id, nil
}

// backupFiles lists the home's files a backup carries, sorted.
func backupFiles(home string) ([]string, error) {
	var out []string
	if _, err := os.Stat(filepath.Join(home, "peers.cbor")); err == nil {
		out = append(out, "peers.cbor")
	}
	ents, err := os.ReadDir(filepath.Join(home, "spaces"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loam: backup: %w", err)
	}
	for _, e := range ents {
		if name := "spaces/" + e.Name(); e.Type().IsRegular() && archive.BackupFileAllowed(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// RestoreBackupOptions configure RestoreBackup.
type RestoreBackupOptions struct {
	Passphrase string
	// Progress, if not nil, is called with the bytes read so far.
	Progress func(bytes int64)
}

// RestoreBackup restores a backup of Node.Backup onto home ("" means
// DefaultHome), which must not have a device key yet (ErrHomeInUse): the
// device key, the identity file (checked against the device key as Open
// checks it), the key files and the peer book, the person's own space and
// the spaces archived (every commit verified, as by RestoreSpace), and
// the other spaces held, empty:
// they return from peers once the node runs with the network (the device
// is still their member), and refuse writes (ErrAwaiting) until they are
// in sync with one. It is all or nothing: a wrong passphrase
// (ErrPassphrase), a damaged or cut-short backup (ErrBadBackup) or any
// other failure leave the home as it was. Nothing may use the home while
// it runs.
func RestoreBackup(ctx context.Context, home string, r io.Reader, o RestoreBackupOptions) (sum BackupSummary, err error) {
	if home == "" {
		home = DefaultHome()
	}
	if _, err := os.Stat(filepath.Join(home, keys.DeviceKeyFile)); err == nil {
		return sum, fmt.Errorf("%w: %s (a backup restores onto a fresh home: choose another with --home or LOAM_HOME, or move this one away)", ErrHomeInUse, home)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return sum, fmt.Errorf("loam: restore backup: %w", err)
	}
	_, statErr := os.Stat(home)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return sum, fmt.Errorf("loam: restore backup: %w", err)
	}
	// Everything is made in a staging directory in the home, moved into
	// the home only once the whole backup has been read and checked.
	stage, err := os.MkdirTemp(home, ".restore-")
	if err != nil {
		return sum, fmt.Errorf("loam: restore backup: %w", err)
	}
	var n *Node
	defer func() {
		if n != nil {
			n.Close()
		}
		os.RemoveAll(stage)
		if err != nil && created {
			os.Remove(home)
		}
		if err != nil {
			sum = BackupSummary{}
			err = fmt.Errorf("loam: restore backup: %w; nothing was restored", err)
		}
	}()
	cr := &counter{r: r, progress: o.Progress}
	br, devText, err := archive.OpenBackup(cr, o.Passphrase, 0)
	if err != nil {
		return sum, err
	}
	dev, err := keys.ParseDeviceKey(devText)
	if err != nil {
		return sum, err
	}
	sum = BackupSummary{Author: dev.Author().String(), Archives: []ArchiveSummary{}}
	if err := writeNew(filepath.Join(stage, keys.DeviceKeyFile), []byte(dev.String()+"\n")); err != nil {
		return sum, err
	}
	type heldSpace struct {
		id   keys.SpaceID
		name string
	}
	var held []heldSpace
	var idFile []byte // written last: no carrier runs in the staging node
	archived := map[keys.SpaceID]bool{}
	for {
		it, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		switch {
		case it.Identity != nil:
			idFile = it.Data
			sum.Identity, sum.IdentityKey = it.Identity.ID.String(), it.Identity.HoldsKey()
		case it.File != "":
			if err := writeNew(filepath.Join(stage, filepath.FromSlash(it.File)), it.Data); err != nil {
				return sum, err
			}
			sum.Files++
		case it.Held != nil:
			held = append(held, heldSpace{*it.Held, it.Name})
		case it.Archive != nil:
			if n == nil {
				if n, err = Open(ctx, Options{Home: stage}); err != nil {
					return sum, err
				}
			}
			as, err := n.RestoreSpace(ctx, it.R, RestoreOptions{})
			if berr := br.Err(); berr != nil {
				return sum, berr // the backup's bytes, under the archive's error
			}
			if err != nil {
				return sum, err
			}
			if as.Space != it.Archive.String() {
				return sum, fmt.Errorf("%w: the archive of %s holds %s", ErrBadBackup, it.Archive, as.Space)
			}
			if it.Person && !as.Private {
				return sum, fmt.Errorf("%w: the person's space %s is not private", ErrBadBackup, it.Archive)
			}
			archived[*it.Archive] = true
			sum.Archives = append(sum.Archives, as)
			if it.Person {
				sum.Person = as.Space
			}
		}
	}
	if n == nil {
		if n, err = Open(ctx, Options{Home: stage}); err != nil {
			return sum, err
		}
	}
	if n.Author() != sum.Author {
		return sum, fmt.Errorf("%w: its device key is not the home's", ErrBadBackup)
	}
	ln := n.impl.(localNode)
	var empty []keys.SpaceID // held again without their commits, or awaiting newer ones
	for _, h := range held {
		if !archived[h.id] {
			end, err := ln.n.BeginRestore(ctx, h.id, h.name, nil)
			if err != nil {
				return sum, err
			}
			if err := end(nil); err != nil {
				return sum, err
			}
			empty = append(empty, h.id)
		}
	}
	// The person's own space comes back with its data, but another device
	// of the person (or a seeder) may hold commits of this device newer
	// than the backup: where one may, it awaits them too.
	if sum.Person != "" {
		pid, err := keys.ParseSpaceID(sum.Person)
		if err != nil {
			return sum, err
		}
		if elsewhere, err := ln.n.HeldElsewhere(ctx, pid); err != nil {
			return sum, err
		} else if elsewhere {
			empty = append(empty, pid)
		}
	}
	if sum.Spaces, err = n.Spaces(ctx); err != nil {
		return sum, err
	}
	err = n.Close()
	n = nil
	if err != nil {
		return sum, err
	}
	if idFile != nil {
		if err := writeNew(filepath.Join(stage, node.IdentityFile), idFile); err != nil {
			return sum, err
		}
	}
	// The spaces held again empty refuse writes until they are in sync
	// with a peer: a write before this device's own commits are back
	// would fork its history (docs/design.md, "Awaiting one's own history
	// after a restore (#12)").
	if err := node.WriteAwaiting(stage, empty); err != nil {
		return sum, err
	}
	sum.Bytes = cr.n
	return sum, moveInto(stage, home)
}

// writeNew writes a new file with mode 0600, and its directory (0700).
func writeNew(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// moveInto moves every entry of dir into home, none of which may exist
// there; it checks them all first.
func moveInto(dir, home string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if _, err := os.Lstat(filepath.Join(home, e.Name())); err == nil {
			return fmt.Errorf("%s is in the way in %s: restore onto an empty home", e.Name(), home)
		}
	}
	// The device key last: a home without it is not a home, so a failure
	// in between leaves one that a new restore can be tried on again.
	slices.SortFunc(ents, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() == keys.DeviceKeyFile:
			return 1
		case b.Name() == keys.DeviceKeyFile:
			return -1
		}
		return 0
	})
	for i, e := range ents {
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(home, e.Name())); err != nil {
			for _, m := range ents[:i] { // put back what was moved
				os.Rename(filepath.Join(home, m.Name()), filepath.Join(dir, m.Name()))
			}
			return err
		}
	}
	return nil
}
