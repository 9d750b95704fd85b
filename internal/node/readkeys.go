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
}

// loadReadKeys reads every key file under home.
func loadReadKeys(home string, dev keys.DeviceKey) (*readKeys, error) {
	rk := &readKeys{dir: filepath.Join(home, "spaces"), dev: dev, m: map[keys.SpaceID][]keys.EpochKey{}, invites: map[keys.SpaceID][]keys.DeviceKey{}, private: map[keys.SpaceID]bool{}, unsaved: map[keys.SpaceID]error{}}
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
	rk.mu.Lock()
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
	if !added && rk.unsaved[sp] == nil {
		rk.mu.Unlock()
		return nil // a store rebuild applies rotate ops again
	}
	rk.m[sp] = merged
	rk.mu.Unlock()
	err := replaceFile(filepath.Join(rk.dir, sp.String()+readKeySuffix), keys.EncodeEpochKeys(merged))
	rk.mu.Lock()
	rk.unsaved[sp] = err
	rk.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: save read keys: %w", err)
	}
	return nil
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

// saveUnsaved tries again to save the key files that could not be
// written, and returns the first failure.
func (rk *readKeys) saveUnsaved() error {
	rk.mu.Lock()
	var sps []keys.SpaceID
	for sp, err := range rk.unsaved {
		if err != nil {
			sps = append(sps, sp)
		}
	}
	rk.mu.Unlock()
	var first error
	for _, sp := range sps {
		if err := rk.add(sp, nil); err != nil && first == nil {
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
// invite key this node joined with. Undecodable rotate ops and keys that
// do not open are ignored: they are someone else's, or garbage.
func (rk *readKeys) rotated(sp keys.SpaceID, genesis bool, payload []byte) {
	r, err := commit.DecodeRotate(commit.Op{Kind: commit.KindRotate, Payload: payload})
	if err != nil {
		return
	}
	rk.mu.Lock()
	if genesis { // as isPrivate decides; a rotate op later is no sign
		rk.private[sp] = true
	}
	openers := append([]keys.DeviceKey{rk.dev}, rk.invites[sp]...)
	rk.mu.Unlock()
	for _, sk := range r.Keys {
		for _, dk := range openers {
			if sk.Reader != dk.Author() {
				continue
			}
			k, err := seal.OpenKey(dk, sk.Sealed, sp, r.Epoch)
			if err != nil {
				continue
			}
			// An error leaves the key in memory only: it is used until
			// the node stops, saved again with the next key learnt, and
			// Node.ReadKeysUnsaved reports it.
			_ = rk.add(sp, []keys.EpochKey{{Epoch: r.Epoch, Key: k}})
			return
		}
	}
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
