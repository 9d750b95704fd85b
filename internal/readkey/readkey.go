package readkey

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/durable"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/store"
)

// KeySuffix names a space's key file: HOME/spaces/<space>.readkeys.
const KeySuffix = ".readkeys"

// InviteSuffix names the file of the invite keys a node joined a space
// with: HOME/spaces/<space>.invites, one key per line (0600). A rotation
// made before the admin saw the join seals the new read key to the invite
// key, so the joiner needs it until that rotate op arrives, across
// restarts.
const InviteSuffix = ".invites"

// Custody holds the read keys of the private spaces this node reads, one
// key file per space under HOME/spaces (0600), never in the store.
type Custody struct {
	dir string
	dev keys.DeviceKey // opens read keys sealed to this device
	// saveMu orders the writers of the key files (Add, Joining, Forget); it is
	// never held by the applier's hooks except through Add.
	saveMu sync.Mutex
	mu     sync.Mutex                       // guards m, invites, private and unsaved; never held across I/O
	m      map[keys.SpaceID][]keys.EpochKey // ascending epochs; guarded by mu
	// invites holds the invite keys of tickets this node joined with (the
	// .invites files): a rotation made before the admin saw the join seals
	// the new key to the invite key. Guarded by mu.
	invites map[keys.SpaceID][]keys.DeviceKey
	// private marks the spaces known to be private (the genesis's rotate op
	// was applied, or the node found it: MarkPrivate), readable or not.
	// Guarded by mu.
	private map[keys.SpaceID]bool
	// unsaved holds why a space's key file could not be written the last
	// time; its keys are then in m only. Guarded by mu.
	unsaved map[keys.SpaceID]error
	// dirty marks the spaces whose keys were learnt by the Rotated hook
	// and not saved yet: the hook runs on the store's applier and does no
	// I/O, SaveLoop saves them (kick wakes it; buffered 1). Guarded by mu.
	dirty map[keys.SpaceID]bool
	kick  chan struct{}
	// ident opens read keys sealed to the person's identity (a rotation
	// of the person's own space seals to it): set by SetIdentity when the
	// node holds the identity key; zero otherwise. Guarded by mu.
	ident keys.DeviceKey
}

// SetIdentity makes the custody open read keys sealed to the identity
// whose key opener is k (identity.Key.ReadKeyOpener), in every space, as
// well as those sealed to this device. Keys of rotations applied before
// are learnt by LearnStored.
func (rk *Custody) SetIdentity(k keys.DeviceKey) {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	rk.ident = k
}

// Forget drops what the custody holds for space sp: its invite keys and
// their file, and with keys its read keys and their file.
func (rk *Custody) Forget(sp keys.SpaceID, withKeys bool) error {
	rk.saveMu.Lock()
	defer rk.saveMu.Unlock()
	rk.mu.Lock()
	delete(rk.invites, sp)
	delete(rk.private, sp)
	if withKeys {
		delete(rk.m, sp)
		delete(rk.unsaved, sp)
	}
	rk.mu.Unlock()
	files := []string{sp.String() + InviteSuffix}
	if withKeys {
		files = append(files, sp.String()+KeySuffix)
	}
	for _, f := range files {
		if err := os.Remove(filepath.Join(rk.dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("readkey: remove %s: %w", f, err)
		}
	}
	return nil
}

// Load reads every key file under home.
func Load(home string, dev keys.DeviceKey) (*Custody, error) {
	rk := &Custody{
		dir: filepath.Join(home, "spaces"), dev: dev, m: map[keys.SpaceID][]keys.EpochKey{}, invites: map[keys.SpaceID][]keys.DeviceKey{},
		private: map[keys.SpaceID]bool{}, unsaved: map[keys.SpaceID]error{}, dirty: map[keys.SpaceID]bool{}, kick: make(chan struct{}, 1),
	}
	err := spaceFiles(rk.dir, KeySuffix, func(id keys.SpaceID, f string, b []byte) error {
		ks, err := keys.DecodeEpochKeys(b)
		if err != nil {
			return fmt.Errorf("readkey: read key file %s: %w (restore it from a backup, or join the space again with a new invite)", f, err)
		}
		rk.m[id] = ks
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = spaceFiles(rk.dir, InviteSuffix, func(id keys.SpaceID, f string, b []byte) error {
		for _, line := range strings.Fields(string(b)) {
			k, err := keys.ParseDeviceKey(line)
			if err != nil {
				return fmt.Errorf("readkey: invite key file %s: %w (delete it if the space's read keys are in %s%s)", f, err, id, KeySuffix)
			}
			rk.invites[id] = append(rk.invites[id], k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rk, nil
}

// All returns the read keys held for sp, ascending (nil if none).
func (rk *Custody) All(sp keys.SpaceID) []keys.EpochKey {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return slices.Clone(rk.m[sp])
}

// Current returns the key of the latest epoch held for sp.
func (rk *Custody) Current(sp keys.SpaceID) (keys.EpochKey, bool) {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	ks := rk.m[sp]
	if len(ks) == 0 {
		return keys.EpochKey{}, false
	}
	return ks[len(ks)-1], true
}

// Add merges ks into sp's keys and saves the key file durably. If saving
// fails the keys are still used until the node stops, and the next Add
// saves them all.
func (rk *Custody) Add(sp keys.SpaceID, ks []keys.EpochKey) error {
	// saveMu orders the writers of key files; mu is held only to read and
	// update the maps, so the applier's Unseal never waits for a disk.
	rk.saveMu.Lock()
	defer rk.saveMu.Unlock()
	if !rk.merge(sp, ks) && rk.Unsaved(sp) == nil {
		return nil // a store rebuild applies rotate ops again
	}
	return rk.save(sp)
}

// merge merges ks into sp's keys in memory, and reports whether that added
// any.
func (rk *Custody) merge(sp keys.SpaceID, ks []keys.EpochKey) bool {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	merged := slices.Clone(rk.m[sp])
	added := false
	for _, k := range ks {
		// Two keys of one epoch: two admins rotated concurrently; both are
		// kept, and a sealed op of the epoch is opened with either.
		i, found := slices.BinarySearchFunc(merged, k, keys.CompareEpochKeys)
		if found {
			continue
		}
		merged = slices.Insert(merged, i, k)
		added = true
	}
	if added {
		rk.m[sp] = merged
	}
	return added
}

// save writes sp's key file from the keys in memory, durably. Callers
// hold saveMu.
func (rk *Custody) save(sp keys.SpaceID) error {
	rk.mu.Lock()
	ks := slices.Clone(rk.m[sp])
	delete(rk.dirty, sp)
	rk.mu.Unlock()
	err := durable.WriteFile(filepath.Join(rk.dir, sp.String()+KeySuffix), keys.EncodeEpochKeys(ks))
	rk.mu.Lock()
	rk.unsaved[sp] = err
	rk.mu.Unlock()
	if err != nil {
		return fmt.Errorf("readkey: save read keys: %w", err)
	}
	return nil
}

// SaveLoop saves the key files of the keys the Rotated hook learnt, off
// the applier goroutine, until ctx ends. The node owns it.
func (rk *Custody) SaveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-rk.kick:
		}
		rk.mu.Lock()
		var sps []keys.SpaceID
		for sp := range rk.dirty {
			sps = append(sps, sp)
		}
		rk.mu.Unlock()
		rk.saveMu.Lock()
		for _, sp := range sps {
			// An error leaves the keys in memory only: they are used until
			// the node stops, saved with the next key learnt or on Close
			// (saveUnsaved), learnt again from the store on the next start
			// (LearnStored), and Unsaved reports it.
			_ = rk.save(sp)
		}
		rk.saveMu.Unlock()
	}
}

// SaveUnsaved saves the key files not saved yet (learnt but not reached
// by SaveLoop, or whose save failed), and returns the first failure.
func (rk *Custody) SaveUnsaved() error {
	rk.mu.Lock()
	var sps []keys.SpaceID
	for sp, err := range rk.unsaved {
		if err != nil {
			sps = append(sps, sp)
		}
	}
	for sp := range rk.dirty {
		if rk.unsaved[sp] == nil {
			sps = append(sps, sp)
		}
	}
	rk.mu.Unlock()
	rk.saveMu.Lock()
	defer rk.saveMu.Unlock()
	var first error
	for _, sp := range sps {
		if err := rk.save(sp); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Unsaved returns why sp's read keys could not be saved the last time,
// or nil.
func (rk *Custody) Unsaved(sp keys.SpaceID) error {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return rk.unsaved[sp]
}

// MarkPrivate records that sp is private; knownPrivate says whether that
// was recorded (without reading the store: for the applier goroutine).
func (rk *Custody) MarkPrivate(sp keys.SpaceID) {
	rk.mu.Lock()
	rk.private[sp] = true
	rk.mu.Unlock()
}

func (rk *Custody) KnownPrivate(sp keys.SpaceID) bool {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return rk.private[sp] || len(rk.m[sp]) > 0
}

// Joining remembers the invite key of a ticket being joined with, durably.
func (rk *Custody) Joining(sp keys.SpaceID, inv keys.DeviceKey) error {
	rk.saveMu.Lock()
	defer rk.saveMu.Unlock()
	rk.mu.Lock()
	list := slices.Clone(rk.invites[sp])
	rk.mu.Unlock()
	for _, k := range list {
		if k.Author() == inv.Author() {
			return nil
		}
	}
	list = append(list, inv)
	var b strings.Builder
	for _, k := range list {
		b.WriteString(k.String() + "\n")
	}
	if err := durable.WriteFile(filepath.Join(rk.dir, sp.String()+InviteSuffix), []byte(b.String())); err != nil {
		return fmt.Errorf("readkey: save the invite key: %w", err)
	}
	rk.mu.Lock()
	rk.invites[sp] = list
	rk.mu.Unlock()
	return nil
}

// Rotated is the store's Rotated hook, on the applier goroutine: it keeps
// the epoch key of a rotate op if it is sealed to this device or to an
// invite key this node joined with, in memory at once (so that the sealed
// ops of the epoch, applied after it, open), and leaves saving it to
// SaveLoop: the hook does no I/O. Undecodable rotate ops and keys that do
// not open are ignored: they are someone else's, or garbage.
func (rk *Custody) Rotated(sp keys.SpaceID, genesis bool, payload []byte) {
	if genesis { // as the node decides privacy; a rotate op later is no sign
		rk.MarkPrivate(sp)
	}
	k, ok := rk.open(sp, payload)
	if !ok || !rk.merge(sp, []keys.EpochKey{k}) {
		return
	}
	rk.mu.Lock()
	rk.dirty[sp] = true
	rk.mu.Unlock()
	select {
	case rk.kick <- struct{}{}:
	default:
	}
}

// open returns the epoch key of a rotate op's payload if it is sealed to
// this device, to an invite key this node joined with, or to the identity
// this node holds the key of (SetIdentity).
func (rk *Custody) open(sp keys.SpaceID, payload []byte) (keys.EpochKey, bool) {
	r, err := commit.DecodeRotate(commit.Op{Kind: commit.KindRotate, Payload: payload})
	if err != nil {
		return keys.EpochKey{}, false
	}
	rk.mu.Lock()
	openers := append([]keys.DeviceKey{rk.dev}, rk.invites[sp]...)
	if !rk.ident.IsZero() {
		openers = append(openers, rk.ident)
	}
	rk.mu.Unlock()
	for _, sk := range r.Keys {
		for _, dk := range openers {
			if sk.Reader != dk.Author() {
				continue
			}
			if k, err := seal.OpenKey(dk, sk.Sealed, sp, r.Epoch); err == nil {
				return keys.EpochKey{Epoch: r.Epoch, Key: k}, true
			}
		}
	}
	return keys.EpochKey{}, false
}

// LearnStored learns again, from the rotate ops the store applied
// (store.Rotations), the keys sealed to this node that its key files lack:
// those learnt just before a crash, before SaveLoop saved them. It saves
// the key files it completes; one that cannot be saved (a full disk) is
// reported by Unsaved, and its keys are used all the same. Only
// spaces with a key file or an invite key file are completed: a key file
// removed stays removed (docs/design.md, "Rotation on removal").
func (rk *Custody) LearnStored(ctx context.Context, st *store.Store) error {
	infos, err := st.Spaces(ctx)
	if err != nil {
		return err
	}
	for _, in := range infos {
		rk.mu.Lock()
		held := len(rk.m[in.ID]) > 0 || len(rk.invites[in.ID]) > 0
		rk.mu.Unlock()
		if !held {
			continue
		}
		var learnt []keys.EpochKey
		for r, err := range st.Rotations(ctx, in.ID) {
			if err != nil {
				return err
			}
			if r.Genesis {
				rk.MarkPrivate(in.ID)
			}
			if k, ok := rk.open(in.ID, r.Payload); ok {
				learnt = append(learnt, k)
			}
		}
		_ = rk.Add(in.ID, learnt)
	}
	return nil
}

// Unseal is the store's Unseal hook (store.Options): it opens a sealed op
// of space sp and epoch, on the applier goroutine; it must not block.
func (rk *Custody) Unseal(sp keys.SpaceID, epoch uint64, payload []byte) (commit.Op, bool) {
	rk.mu.Lock()
	ks := rk.m[sp]
	rk.mu.Unlock()
	i, _ := slices.BinarySearchFunc(ks, epoch, func(e keys.EpochKey, ep uint64) int { return cmp.Compare(e.Epoch, ep) })
	var pt []byte
	var err error = seal.ErrDecrypt
	for ; i < len(ks) && ks[i].Epoch == epoch && err != nil; i++ {
		pt, err = seal.OpenPayload(seal.ReadKey(ks[i].Key), sp, epoch, payload)
	}
	if err != nil {
		return commit.Op{}, false
	}
	o, err := commit.DecodeSealedOp(pt)
	if err != nil {
		return commit.Op{}, false
	}
	return o, true
}

// spaceFiles calls fn with the contents of each file in dir named
// <space ID><suffix>; other files are not ours and are skipped.
func spaceFiles(dir, suffix string, fn func(id keys.SpaceID, path string, b []byte) error) error {
	return durable.ReadFiles(dir, suffix, func(name, path string, b []byte) error {
		id, err := keys.ParseSpaceID(name)
		if err != nil {
			return nil // not ours
		}
		return fn(id, path, b)
	})
}
