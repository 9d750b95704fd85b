package loam

import (
	"context"

	"github.com/loamdb/loam/internal/space"
)

// Profiles (issue 12): a person's display name and avatar, written by
// their devices into the spaces they are in, and shown wherever a member
// is (Space.Members, the web UI). The key layout is in docs/apps.md,
// "Profiles".

// ErrBadProfile: a profile's name is empty, over 64 bytes, has control
// characters or spaces at either end, or its avatar is not a PNG, JPEG or
// WebP image of at most 1 MiB held here.
var ErrBadProfile = space.ErrBadProfile

// Limits of a profile.
const (
	MaxProfileName = space.MaxProfileName // bytes
	MaxAvatar      = space.MaxAvatar      // bytes of the avatar image
)

// Profile is a person's display name and avatar.
type Profile struct {
	Name string `json:"name"`
	// Avatar is the blob ID (blb_…) of the avatar image, a blob held here
	// (Node.AddBlob), or "" for none.
	Avatar string `json:"avatar"`
}

// profileNode is what a Node implementation does for profiles.
type profileNode interface {
	setProfile(ctx context.Context, p Profile) (int, error)
	profile(ctx context.Context) (Profile, error)
}

// SetProfile sets the profile of this device's person (the device must
// hold an identity: ErrNoIdentity) and writes it into every space held
// here where this device may write, except those where an equal profile
// of the person is in force already; the node carries it into the spaces
// it holds later, and the person's other devices learn it from the spaces
// they share. A profile that breaks the limits is refused
// (ErrBadProfile) and nothing is written. It returns the number of spaces
// written to.
func (n *Node) SetProfile(ctx context.Context, p Profile) (int, error) {
	return n.impl.setProfile(ctx, p)
}

// Profile returns the profile of this device's person: the newest one in
// the spaces held here, or, without any, the person's name given when the
// identity was created.
func (n *Node) Profile(ctx context.Context) (Profile, error) { return n.impl.profile(ctx) }
