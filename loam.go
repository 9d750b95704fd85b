package loam

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Errors callers may check with errors.Is.
var (
	ErrNotFound     = store.ErrNotFound
	ErrUnknownSpace = store.ErrUnknownSpace
	ErrNameTaken    = store.ErrNameTaken
	ErrReadOnly     = space.ErrReadOnly
	ErrInvalidLog   = space.ErrInvalidLog
	ErrNotSupported = errors.New("not supported yet")
	ErrInUse        = errors.New("the Loam home is in use by another process")
	ErrBadName      = errors.New("invalid space name")
)

// Options configure a Node.
type Options struct {
	// Home is the data directory. Empty means $LOAM_HOME, or ~/.loam.
	Home string

	noSync bool // benchmarks only: skip fsync
}

// DefaultHome returns $LOAM_HOME, or ~/.loam.
func DefaultHome() string {
	if h := os.Getenv("LOAM_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".loam")
	}
	return ".loam"
}

// Node is one device's Loam: its key and its store of spaces. It is safe for
// concurrent use.
type Node struct {
	home  string
	dev   keys.DeviceKey
	st    *store.Store
	clock *commit.Clock
	hub   *space.Hub

	mu     sync.Mutex
	spaces map[keys.SpaceID]*Space // guarded by mu
}

// Open opens the node in o.Home, creating its device key and store on first
// use.
func Open(ctx context.Context, o Options) (*Node, error) {
	home := o.Home
	if home == "" {
		home = DefaultHome()
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("loam: create home: %w", err)
	}
	dev, err := keys.LoadOrCreateDeviceKey(home)
	if err != nil {
		return nil, err
	}
	n := &Node{home: home, dev: dev, clock: commit.NewClock(), hub: space.NewHub(), spaces: map[keys.SpaceID]*Space{}}
	st, err := store.Open(filepath.Join(home, "store"), store.Options{NoSync: o.noSync, Notify: func(ev store.Event) { n.hub.Publish(ev.Space, ev.Changes) }})
	if err != nil {
		// Pebble reports a lock held by another process as the fcntl errno:
		// EAGAIN, or EACCES (not on a path: that is a permission problem) on
		// some systems; a lock held by this process by its message.
		var pe *fs.PathError
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) && !errors.As(err, &pe) ||
			strings.Contains(err.Error(), "lock held by current process") {
			return nil, fmt.Errorf("%w: %s (stop the other loam process, or set LOAM_HOME to another directory)", ErrInUse, home)
		}
		return nil, err
	}
	n.st = st
	return n, nil
}

// Close closes the store. Writes in flight fail; nothing acknowledged is lost.
func (n *Node) Close() error { return n.st.Close() }

// Home returns the node's data directory.
func (n *Node) Home() string { return n.home }

// Author returns the device's author ID.
func (n *Node) Author() string { return n.dev.Author().String() }

// Visibility says whether a space is encrypted.
type Visibility int

// Visibilities.
const (
	Public  Visibility = iota // signed, not encrypted
	Private                   // encrypted; arrives with access control
)

// SpaceInfo describes a space held by the node.
type SpaceInfo struct {
	ID      string
	Name    string
	Created time.Time
}

// CheckName validates a local space name: 1..64 characters of letters,
// digits, '-', '_' and '.', not starting with "spc_".
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w %q: use 1 to 64 characters", ErrBadName, name)
	}
	if strings.HasPrefix(name, keys.SpacePrefix) {
		return fmt.Errorf("%w %q: names must not start with %q, which marks a space ID", ErrBadName, name, keys.SpacePrefix)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w %q: use letters, digits, '-', '_' and '.'", ErrBadName, name)
		}
	}
	return nil
}

// CreateSpace creates a space with a new space key, whose genesis commit
// makes this device its admin. The space secret is kept in the home's
// spaces/ directory (mode 0600).
func (n *Node) CreateSpace(ctx context.Context, name string, vis Visibility) (*Space, error) {
	if vis == Private {
		return nil, fmt.Errorf("loam: create %q: private spaces: %w (they arrive with access control; create a public space for now)", name, ErrNotSupported)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, err := n.st.SpaceByName(ctx, name); err == nil {
		return nil, fmt.Errorf("%w: %q (choose another name)", ErrNameTaken, name)
	}
	sk, err := keys.NewSpaceKey()
	if err != nil {
		return nil, err
	}
	genesis, err := commit.Build(commit.Header{
		Space: sk.Space(), Author: sk.Author(), Seq: 1, Time: n.clock.Now(),
	}, []commit.Op{commit.GrantOp(commit.Grant{Subject: n.dev.Author(), Role: commit.RoleAdmin})}, sk)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(n.home, "spaces")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("loam: create space: %w", err)
	}
	secret := filepath.Join(dir, sk.Space().String()+".key")
	if err := os.WriteFile(secret, []byte(sk.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("loam: save space secret: %w", err)
	}
	if err := n.st.CreateSpace(ctx, name, genesis); err != nil {
		os.Remove(secret)
		return nil, err
	}
	return n.Space(ctx, sk.Space().String())
}

// Space returns a held space by ID ("spc_…") or local name.
func (n *Node) Space(ctx context.Context, ref string) (*Space, error) {
	var id keys.SpaceID
	var err error
	if strings.HasPrefix(ref, keys.SpacePrefix) {
		if id, err = keys.ParseSpaceID(ref); err != nil {
			return nil, fmt.Errorf("loam: %w (copy the whole ID from 'loam space ls')", err)
		}
	} else if id, err = n.st.SpaceByName(ctx, ref); err != nil {
		return nil, fmt.Errorf("%w (see 'loam space ls' for the spaces held here)", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if sp, ok := n.spaces[id]; ok {
		return sp, nil
	}
	inner, err := space.Open(ctx, n.st, id, n.dev, n.clock)
	if err != nil {
		if errors.Is(err, store.ErrUnknownSpace) {
			return nil, fmt.Errorf("%w (see 'loam space ls' for the spaces held here)", err)
		}
		return nil, err
	}
	sp := &Space{n: n, sp: inner}
	n.spaces[id] = sp
	return sp, nil
}

// Spaces lists the spaces held, by name.
func (n *Node) Spaces(ctx context.Context) ([]SpaceInfo, error) {
	infos, err := n.st.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SpaceInfo, len(infos))
	for i, in := range infos {
		out[i] = SpaceInfo{ID: in.ID.String(), Name: in.Name, Created: in.Created}
	}
	sortSpaces(out)
	return out, nil
}

func sortSpaces(s []SpaceInfo) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Name < s[j-1].Name; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
