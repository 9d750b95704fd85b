package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Profiles (#12): the person's display name and avatar, written by this
// device into the spaces it holds (the key layout and the reader's rule are
// in package space, profile.go). docs/design.md, "Profiles (#12)".
//
// The source of truth on a device is the newest valid profile of its
// identity in any held space, so a device linked later learns it from the
// spaces it receives; without any, the person's name in the identity file,
// written as a default profile that any chosen one beats.
// SetProfile writes a new profile into every held space where this device
// may write; the certificate carrier (identity.go) calls carryProfile after
// each carry, which writes the profile into a space that has none of the
// person's yet. Profile writes run under the carrier's lock, one at a time.

// SetProfile sets the profile of this device's person: it checks p (the
// name; the avatar, if any, a blob held here of at most 1 MiB, a PNG,
// JPEG or WebP image) and writes it into every held space where this
// device may write, except where an equal profile of the person is in
// force already. Nothing is written when p is refused. It returns the
// number of spaces written to.
func (n *Node) SetProfile(ctx context.Context, p space.Profile) (int, error) {
	id, err := n.Identity(ctx)
	if err != nil {
		return 0, err
	}
	if err := p.Check(); err != nil {
		return 0, err
	}
	var img []byte
	if p.Avatar != "" {
		img, err = n.localAvatar(p.Avatar)
		if err != nil {
			// The avatar in force, learned from a space (sealed there, or not
			// fetched yet): keep it.
			if cur, from, err2 := n.newestProfile(ctx, id.ID); err2 == nil && cur != nil && cur.Avatar == p.Avatar {
				img, err = n.avatarBytes(ctx, *cur, from)
			}
		}
		if err != nil {
			return 0, err
		}
	}
	written, errs := n.writeProfiles(ctx, id.ID, space.Stored{Profile: p}, img, func(cur *space.ProfileEntry) bool {
		return cur != nil && cur.Profile == p && !cur.Default
	})
	if len(errs) > 0 {
		return written, fmt.Errorf("node: the profile was written into %d spaces, not into %d: %w", written, len(errs), errors.Join(errs...))
	}
	return written, nil
}

// Profile returns the profile of this device's person, as this device
// knows it: the newest valid one of the identity in any held space, or
// else the person's name from the identity file, without an avatar.
func (n *Node) Profile(ctx context.Context) (space.Profile, error) {
	id, err := n.Identity(ctx)
	if err != nil {
		return space.Profile{}, err
	}
	e, _, err := n.newestProfile(ctx, id.ID)
	if err != nil {
		return space.Profile{}, err
	}
	if e == nil {
		return space.Profile{Name: id.Name}, nil
	}
	return e.Profile, nil
}

// carryProfile writes the person's profile into sp when this device is
// certified there and no profile of the person is in force there: it
// never overrides one (only SetProfile does). Called by the carrier
// after each carry; failures are logged, and carried again at the next
// carry or SetProfile. The avatar's bytes, which may come from a peer,
// are read before it takes the carrier's lock, so a slow fetch holds up
// no carry; under the lock it checks again that the profile is still the
// one to write.
func (n *Node) carryProfile(ctx context.Context, sp keys.SpaceID) {
	idp := n.people.current()
	if idp == nil {
		return
	}
	id := *idp
	err := func() error {
		p, img, ok, err := n.profileToCarry(ctx, sp, id)
		if err != nil || !ok {
			return err
		}
		n.people.carry.Lock()
		defer n.people.carry.Unlock()
		again, _, ok, err := n.profileToCarry(ctx, sp, id)
		if err != nil || !ok || again.Profile != p.Profile || again.Default != p.Default {
			return err // written meanwhile, or a newer profile: the next carry writes it
		}
		_, err = n.writeProfile(ctx, sp, id.ID, p, img)
		return err
	}()
	if err != nil && n.ctx.Err() == nil && !errors.Is(err, store.ErrUnknownSpace) {
		n.log.Warn("profile not carried", "space", sp.String(), "err", err)
	}
}

// profileToCarry returns the profile carryProfile writes into sp, with
// its avatar's bytes, and whether there is one to write: none where this
// device is not certified or a profile of the person is in force. An
// avatar read from a space is kept here (avatarBytes), so a second call
// reads it locally.
func (n *Node) profileToCarry(ctx context.Context, sp keys.SpaceID, id Identity) (space.Stored, []byte, bool, error) {
	cur, certified, err := n.profileIn(ctx, sp, id.ID, true)
	if err != nil || !certified || cur != nil {
		return space.Stored{}, nil, false, err
	}
	truth, from, err := n.newestProfile(ctx, id.ID)
	if err != nil {
		return space.Stored{}, nil, false, err
	}
	p := space.Stored{Profile: space.Profile{Name: id.Name}, Default: true}
	if truth != nil {
		p = space.Stored{Profile: truth.Profile, Default: truth.Default}
	}
	if p.Check() != nil {
		return space.Stored{}, nil, false, nil // an identity file's name always passes; be safe
	}
	var img []byte
	if p.Avatar != "" {
		if img, err = n.avatarBytes(ctx, *truth, from); err != nil {
			return space.Stored{}, nil, false, err
		}
	}
	return p, img, true, nil
}

// refreshProfile writes the person's profile as this device knows it
// (the newest in any held space) into every held space where this device
// is certified and a profile it beats is in force, or none: so a profile
// set on another of the person's devices reaches the spaces only this
// one holds. It returns the number of spaces written to. The person
// worker calls it when a newer profile is in force in the person's own
// space (refreshOnNewProfile).
func (n *Node) refreshProfile(ctx context.Context) (int, error) {
	id, err := n.Identity(ctx)
	if err != nil {
		return 0, err
	}
	truth, from, err := n.newestProfile(ctx, id.ID)
	if err != nil || truth == nil {
		return 0, err
	}
	p := space.Stored{Profile: truth.Profile, Default: truth.Default}
	var img []byte
	if p.Avatar != "" {
		if img, err = n.avatarBytes(ctx, *truth, from); err != nil {
			return 0, err
		}
	}
	written, errs := n.writeProfiles(ctx, id.ID, p, img, func(cur *space.ProfileEntry) bool {
		return cur != nil && (!truth.Beats(*cur) || (cur.Profile == p.Profile && cur.Default == p.Default))
	})
	return written, errors.Join(errs...)
}

// writeProfiles writes profile p (and its avatar img) of identity id into
// every held space where this device is certified, except those where
// keep says the profile in force (nil if none) stays. It returns the
// number of spaces written to and the errors of the others.
func (n *Node) writeProfiles(ctx context.Context, id keys.IdentityID, p space.Stored, img []byte, keep func(cur *space.ProfileEntry) bool) (int, []error) {
	n.people.carry.Lock()
	defer n.people.carry.Unlock()
	written := 0
	var errs []error
	for _, sp := range n.profileSpaces() {
		cur, certified, err := n.profileIn(ctx, sp, id, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !certified || keep(cur) {
			continue
		}
		ok, err := n.writeProfile(ctx, sp, id, p, img)
		if err != nil {
			errs = append(errs, fmt.Errorf("space %s: %w", sp, err))
		}
		if ok {
			written++
		}
	}
	return written, errs
}

// profileSpaces returns the spaces held here, which profiles look at.
func (n *Node) profileSpaces() []keys.SpaceID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.held)
}

// profileIn returns the profile of identity id in force in sp (nil if
// none), and whether this device is certified by id there; with onlyMine,
// it reads no profile where this device is not.
func (n *Node) profileIn(ctx context.Context, sp keys.SpaceID, id keys.IdentityID, onlyMine bool) (*space.ProfileEntry, bool, error) {
	acc, err := n.st.Access(ctx, sp)
	if err != nil {
		return nil, false, err
	}
	certified := space.CertifiedBy(acc)
	me := certified(n.dev.Author(), id)
	if !me && onlyMine {
		return nil, false, nil // this device is not certified here (yet): nothing to write
	}
	ps, err := space.Profiles(ctx, n.st, sp, id, certified)
	if err != nil {
		return nil, false, err
	}
	var cur *space.ProfileEntry
	if e, ok := ps[id]; ok {
		cur = &e
	}
	return cur, me, nil
}

// newestProfile returns the newest valid profile of id in the held spaces
// (nil if none), and the space it is in.
func (n *Node) newestProfile(ctx context.Context, id keys.IdentityID) (*space.ProfileEntry, keys.SpaceID, error) {
	var best *space.ProfileEntry
	var from keys.SpaceID
	for _, sp := range n.profileSpaces() {
		e, _, err := n.profileIn(ctx, sp, id, false)
		if errors.Is(err, store.ErrUnknownSpace) {
			continue
		}
		if err != nil {
			return nil, keys.SpaceID{}, err
		}
		if e != nil && (best == nil || e.Beats(*best)) {
			best, from = e, sp
		}
	}
	return best, from, nil
}

// writeProfile writes p into sp in one commit (with the avatar's bytes
// img as a blob before it), replacing this device's previous copy. It
// writes nothing, and reports false, where this device may not write.
func (n *Node) writeProfile(ctx context.Context, sp keys.SpaceID, id keys.IdentityID, p space.Stored, img []byte) (bool, error) {
	s, err := n.openSpace(ctx, sp)
	if err != nil {
		return false, err
	}
	me := n.dev.Author()
	ops := []commit.Op{{Kind: commit.KindPut, Key: space.ProfileKey(id, me), Payload: p.Encode()}}
	if s.CheckWrite(ctx, ops) != nil {
		return false, nil // no role here, or not on this prefix
	}
	avatarKey := space.AvatarKey(id, me)
	if p.Avatar != "" {
		if _, _, err := n.PutBlob(ctx, s, avatarKey, bytes.NewReader(img), http.DetectContentType(img)); err != nil {
			return false, fmt.Errorf("node: write the avatar: %w", err)
		}
	} else if _, err := s.Get(ctx, avatarKey); err == nil {
		ops = append(ops, commit.Op{Kind: commit.KindDel, Key: avatarKey})
	}
	if _, err := s.Commit(ctx, ops); err != nil {
		return false, fmt.Errorf("node: write the profile: %w", err)
	}
	return true, nil
}

// localAvatar reads and checks the avatar blob id, held here.
func (n *Node) localAvatar(s string) ([]byte, error) {
	id, err := blob.ParseBlobID(s)
	if err != nil {
		return nil, fmt.Errorf("%w: avatar: %v", space.ErrBadProfile, err)
	}
	r, err := n.blobs.Open(id)
	if err != nil {
		return nil, fmt.Errorf("%w: the avatar %s is not held here (%v): add the image as a blob first", space.ErrBadProfile, s, err)
	}
	defer r.Close()
	return readAvatar(r, r.Size())
}

// readAvatar reads an avatar of size bytes from r and checks it.
func readAvatar(r io.Reader, size int64) ([]byte, error) {
	if size > space.MaxAvatar {
		return nil, fmt.Errorf("%w: the avatar is %d bytes, at most %d (1 MiB): use a smaller image", space.ErrBadProfile, size, space.MaxAvatar)
	}
	img, err := io.ReadAll(io.LimitReader(r, space.MaxAvatar+1))
	if err != nil {
		return nil, fmt.Errorf("node: read the avatar: %w", err)
	}
	if len(img) > space.MaxAvatar {
		return nil, fmt.Errorf("%w: the avatar is over %d bytes (1 MiB): use a smaller image", space.ErrBadProfile, space.MaxAvatar)
	}
	if t := http.DetectContentType(img); !slices.Contains(space.AvatarTypes, t) {
		return nil, fmt.Errorf("%w: the avatar is %s, not a PNG, JPEG or WebP image", space.ErrBadProfile, t)
	}
	return img, nil
}

// avatarBytes returns the bytes of e's avatar: the blob held here, or
// else the image its key holds in space from, if it is that blob.
func (n *Node) avatarBytes(ctx context.Context, e space.ProfileEntry, from keys.SpaceID) ([]byte, error) {
	if img, err := n.localAvatar(e.Avatar); err == nil {
		return img, nil
	}
	ent, err := n.st.Get(ctx, from, []byte(e.AvatarKey))
	if err != nil {
		return nil, fmt.Errorf("node: the avatar of the profile: %w", err)
	}
	ref, ok := RefOf(ent)
	if !ok || ent.Author != e.Author {
		return nil, fmt.Errorf("%w: the avatar key %s holds no blob of its profile's device", space.ErrBadProfile, e.AvatarKey)
	}
	if _, err := n.EnsureBlob(ctx, ref.ID, blob.FetchOptions{}); err != nil {
		return nil, err
	}
	br, err := n.OpenRef(ctx, from, ref)
	if err != nil {
		return nil, err
	}
	defer br.Close()
	img, err := readAvatar(br, ref.Size)
	if err != nil {
		return nil, err
	}
	id, _, err := n.AddBlob(ctx, bytes.NewReader(img)) // kept (pinned) for the next space
	if err != nil {
		return nil, err
	}
	if id.String() != e.Avatar {
		return nil, fmt.Errorf("%w: the avatar key %s holds %s, its profile names %s", space.ErrBadProfile, e.AvatarKey, id, e.Avatar)
	}
	return img, nil
}
