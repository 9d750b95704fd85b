package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// ErrNoReadKey is returned for a write to a private space by a device that
// holds none of its read keys (a seeder, or a node whose key file is gone).
var ErrNoReadKey = errors.New("this device holds no read key for the private space")

// readKeySuffix names a space's key file: HOME/spaces/<space>.readkeys.
const readKeySuffix = ".readkeys"

// inviteKeySuffix names the file of the invite keys a node joined a space
// with: HOME/spaces/<space>.invites, one key per line (0600). A rotation
// made before the admin saw the join seals the new read key to the invite
// key, so the joiner needs it until that rotate op arrives, across
// restarts.
const inviteKeySuffix = ".invites"

// readKeys holds the read keys of the private spaces this node reads, one
// key file per space under HOME/spaces (0600), never in the store.
type readKeys struct {
	dir string
	dev keys.DeviceKey // opens read keys sealed to this device
	// saveMu orders the writers of the key files (add, joining); it is
	// never held by the applier's hooks except through add.
	saveMu sync.Mutex
	mu     sync.Mutex                       // guards m, invites, private and unsaved; never held across I/O
	m      map[keys.SpaceID][]keys.EpochKey // ascending epochs; guarded by mu
	// invites holds the invite keys of tickets this node joined with (the
	// .invites files): a rotation made before the admin saw the join seals
	// the new key to the invite key. Guarded by mu.
	invites map[keys.SpaceID][]keys.DeviceKey
	// private marks the spaces known to be private (the genesis's rotate op
	// was applied, or isPrivate found it), readable or not. Guarded by mu.
	private map[keys.SpaceID]bool
	// unsaved holds why a space's key file could not be written the last
	// time; its keys are then in m only. Guarded by mu.
	unsaved map[keys.SpaceID]error
	// dirty marks the spaces whose keys were learnt by the Rotated hook
	// and not saved yet: the hook runs on the store's applier and does no
	// I/O, saveLoop saves them (kick wakes it; buffered 1). Guarded by mu.
	dirty map[keys.SpaceID]bool
	kick  chan struct{}
}

// loadReadKeys reads every key file under home.
func loadReadKeys(home string, dev keys.DeviceKey) (*readKeys, error) {
	rk := &readKeys{
		dir: filepath.Join(home, "spaces"), dev: dev, m: map[keys.SpaceID][]keys.EpochKey{}, invites: map[keys.SpaceID][]keys.DeviceKey{},
		private: map[keys.SpaceID]bool{}, unsaved: map[keys.SpaceID]error{}, dirty: map[keys.SpaceID]bool{}, kick: make(chan struct{}, 1),
	}
	err := readSpaceFiles(rk.dir, readKeySuffix, func(id keys.SpaceID, f string, b []byte) error {
		ks, err := keys.DecodeEpochKeys(b)
		if err != nil {
			return fmt.Errorf("node: read key file %s: %w (restore it from a backup, or join the space again with a new invite)", f, err)
		}
		rk.m[id] = ks
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readSpaceFiles(rk.dir, inviteKeySuffix, func(id keys.SpaceID, f string, b []byte) error {
		for _, line := range strings.Fields(string(b)) {
			k, err := keys.ParseDeviceKey(line)
			if err != nil {
				return fmt.Errorf("node: invite key file %s: %w (delete it if the space's read keys are in %s%s)", f, err, id, readKeySuffix)
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

// readSpaceFiles calls fn with the contents of each file in dir named
// <space ID><suffix>; other files are not ours and are skipped.
func readSpaceFiles(dir, suffix string, fn func(id keys.SpaceID, path string, b []byte) error) error {
	files, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		return err
	}
	for _, f := range files {
		id, err := keys.ParseSpaceID(strings.TrimSuffix(filepath.Base(f), suffix))
		if err != nil {
			continue // not ours
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("node: read %s: %w", f, err)
		}
		if err := fn(id, f, b); err != nil {
			return err
		}
	}
	return nil
}

// all returns the read keys held for sp, ascending (nil if none).
func (rk *readKeys) all(sp keys.SpaceID) []keys.EpochKey {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return slices.Clone(rk.m[sp])
}

// current returns the key of the latest epoch held for sp.
func (rk *readKeys) current(sp keys.SpaceID) (keys.EpochKey, bool) {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	ks := rk.m[sp]
	if len(ks) == 0 {
		return keys.EpochKey{}, false
	}
	return ks[len(ks)-1], true
}

// add merges ks into sp's keys and saves the key file durably. If saving
// fails the keys are still used until the node stops, and the next add
// saves them all.
func (rk *readKeys) add(sp keys.SpaceID, ks []keys.EpochKey) error {
	// saveMu orders the writers of key files; mu is held only to read and
	// update the maps, so the applier's unseal never waits for a disk.
	rk.saveMu.Lock()
	defer rk.saveMu.Unlock()
	if !rk.merge(sp, ks) && rk.unsavedErr(sp) == nil {
		return nil // a store rebuild applies rotate ops again
	}
	return rk.save(sp)
}

// merge merges ks into sp's keys in memory, and reports whether that added
// any.
func (rk *readKeys) merge(sp keys.SpaceID, ks []keys.EpochKey) bool {
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
func (rk *readKeys) save(sp keys.SpaceID) error {
	rk.mu.Lock()
	ks := slices.Clone(rk.m[sp])
	delete(rk.dirty, sp)
	rk.mu.Unlock()
	err := replaceFile(filepath.Join(rk.dir, sp.String()+readKeySuffix), keys.EncodeEpochKeys(ks))
	rk.mu.Lock()
	rk.unsaved[sp] = err
	rk.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: save read keys: %w", err)
	}
	return nil
}

// saveLoop saves the key files of the keys the Rotated hook learnt, off
// the applier goroutine, until ctx ends. The node owns it.
func (rk *readKeys) saveLoop(ctx context.Context) {
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
			// (learnStored), and Node.ReadKeysUnsaved reports it.
			_ = rk.save(sp)
		}
		rk.saveMu.Unlock()
	}
}

// replaceFile writes b to path durably (0600): through a temporary file
// that is synced and renamed into place, in a directory made if missing.
func replaceFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, b); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the directory is.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadKeysUnsaved returns why the read keys of space id could not be saved
// to its key file the last time one was learnt, or nil. Such keys are used
// until the node stops; the next key learnt saves them all.
func (n *Node) ReadKeysUnsaved(id keys.SpaceID) error { return n.rk.unsavedErr(id) }

// saveUnsaved saves the key files not saved yet (learnt but not reached
// by saveLoop, or whose save failed), and returns the first failure.
func (rk *readKeys) saveUnsaved() error {
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

// unsavedErr returns why sp's read keys could not be saved the last time,
// or nil.
func (rk *readKeys) unsavedErr(sp keys.SpaceID) error {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return rk.unsaved[sp]
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// markPrivate records that sp is private; knownPrivate says whether that
// was recorded (without reading the store: for the applier goroutine).
func (rk *readKeys) markPrivate(sp keys.SpaceID) {
	rk.mu.Lock()
	rk.private[sp] = true
	rk.mu.Unlock()
}

func (rk *readKeys) knownPrivate(sp keys.SpaceID) bool {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return rk.private[sp] || len(rk.m[sp]) > 0
}

// joining remembers the invite key of a ticket being joined with, durably.
func (rk *readKeys) joining(sp keys.SpaceID, inv keys.DeviceKey) error {
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
	if err := replaceFile(filepath.Join(rk.dir, sp.String()+inviteKeySuffix), []byte(b.String())); err != nil {
		return fmt.Errorf("node: save the invite key: %w", err)
	}
	rk.mu.Lock()
	rk.invites[sp] = list
	rk.mu.Unlock()
	return nil
}

// rotated is the store's Rotated hook, on the applier goroutine: it keeps
// the epoch key of a rotate op if it is sealed to this device or to an
// invite key this node joined with, in memory at once (so that the sealed
// ops of the epoch, applied after it, open), and leaves saving it to
// saveLoop: the hook does no I/O. Undecodable rotate ops and keys that do
// not open are ignored: they are someone else's, or garbage.
func (rk *readKeys) rotated(sp keys.SpaceID, genesis bool, payload []byte) {
	if genesis { // as isPrivate decides; a rotate op later is no sign
		rk.markPrivate(sp)
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
// this device or to an invite key this node joined with.
func (rk *readKeys) open(sp keys.SpaceID, payload []byte) (keys.EpochKey, bool) {
	r, err := commit.DecodeRotate(commit.Op{Kind: commit.KindRotate, Payload: payload})
	if err != nil {
		return keys.EpochKey{}, false
	}
	rk.mu.Lock()
	openers := append([]keys.DeviceKey{rk.dev}, rk.invites[sp]...)
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

// learnStored learns again, from the rotate ops the store applied
// (store.Rotations), the keys sealed to this node that its key files lack:
// those learnt just before a crash, before saveLoop saved them. It saves
// the key files it completes; one that cannot be saved (a full disk) is
// reported as ReadKeysUnsaved, and its keys are used all the same. Only
// spaces with a key file or an invite key file are completed: a key file
// removed stays removed (docs/design.md, "Rotation on removal").
func (rk *readKeys) learnStored(ctx context.Context, st *store.Store) error {
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
				rk.markPrivate(in.ID)
			}
			if k, ok := rk.open(in.ID, r.Payload); ok {
				learnt = append(learnt, k)
			}
		}
		_ = rk.add(in.ID, learnt)
	}
	return nil
}

// unseal is the store's Unseal hook (store.Options): it opens a sealed op
// of space sp and epoch, on the applier goroutine; it must not block.
func (rk *readKeys) unseal(sp keys.SpaceID, epoch uint64, payload []byte) (commit.Op, bool) {
	rk.mu.Lock()
	ks := rk.m[sp]
	rk.mu.Unlock()
	i, _ := slices.BinarySearchFunc(ks, epoch, func(e keys.EpochKey, ep uint64) int { return cmpU64(e.Epoch, ep) })
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

// IsPrivate reports whether space id is private: its keys, values and
// blobs are sealed.
func (n *Node) IsPrivate(ctx context.Context, id keys.SpaceID) (bool, error) {
	return n.isPrivate(ctx, id)
}

// isPrivate reports whether space id is private: its genesis carries a
// rotate op (docs/design.md, "Private spaces"). A space whose genesis has
// not arrived yet counts as private if this node holds a read key for it.
func (n *Node) isPrivate(ctx context.Context, id keys.SpaceID) (bool, error) {
	if _, ok := n.rk.current(id); ok {
		return true, nil
	}
	for sc, err := range n.st.Commits(ctx, id, keys.AuthorID(id), 1) {
		if err != nil {
			return false, err
		}
		c, err := commit.Decode(sc.Bytes)
		if err != nil {
			return false, fmt.Errorf("node: genesis of %s: %w", id, err)
		}
		for _, o := range c.Ops {
			if o.Kind == commit.KindRotate {
				n.rk.markPrivate(id)
				return true, nil
			}
		}
		break
	}
	return false, nil
}

// rotation returns a rotate op starting the epoch after the latest one
// this node holds for space id, with a new read key sealed to every member
// in ms that reads (read, write or admin in force), and to every live
// read, write or admin invite key (so a joiner holding an older ticket
// gets it too), except revoked and the invites revoked joined through
// (whoever holds that ticket could be the revoked member again).
func (n *Node) rotation(id keys.SpaceID, ms []space.Member, revoked keys.AuthorID) (rotateOp, error) {
	cur, ok := n.rk.current(id)
	if !ok {
		return rotateOp{}, fmt.Errorf("%w %s: cannot rotate its key", ErrNoReadKey, id)
	}
	k, err := seal.NewReadKey()
	if err != nil {
		return rotateOp{}, err
	}
	r := commit.Rotate{Epoch: cur.Epoch + 1}
	for _, m := range ms {
		if m.Author == revoked || m.Revoked != nil || m.Role == 0 || m.Role == commit.RoleSeed || m.Author == keys.AuthorID(id) ||
			slices.Contains(m.Joined, revoked) {
			continue
		}
		sealed, err := seal.SealKey(m.Author, k, id, r.Epoch)
		if err != nil {
			return rotateOp{}, err
		}
		r.Keys = append(r.Keys, commit.SealedKey{Reader: m.Author, Sealed: sealed})
	}
	return rotateOp{commit.RotateOp(r), r.Epoch}, nil
}

// rotateOp is a rotate op and the epoch it starts.
type rotateOp struct {
	commit.Op
	Epoch uint64
}
