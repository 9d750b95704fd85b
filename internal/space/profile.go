package space

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// Profiles (#12): a person's display name and avatar, kept as data in each
// space the person is in. Each of the person's devices writes its own key,
//
//	profile/IDT/AUT          {"name":"Ana","avatar":"blb_…"}   (avatar "" for none)
//	profile/IDT/AUT/avatar   the avatar image, a blob (only while avatar is set)
//
// and a reader honours profile/IDT/AUT only when AUT signed it and AUT is
// a device certified by IDT in the space; the person's profile is the
// newest (by commit time) valid one of their devices', a chosen one
// before a default ("default":true, made from the identity's name). One key per device
// rather than one per person: a member of another identity who wrote
// profile/IDT would otherwise hide Ana's profile by overwriting it, even
// though readers ignore what it wrote. docs/design.md, "Profiles (#12)".

// ProfilePrefix is the key prefix of profiles.
const ProfilePrefix = "profile/"

// Limits of a profile.
const (
	// MaxProfileName bounds a profile's name in bytes.
	MaxProfileName = 64
	// MaxProfileValue bounds the encoded profile a reader decodes.
	MaxProfileValue = 512
	// MaxAvatar bounds an avatar image in bytes.
	MaxAvatar = 1 << 20
)

// AvatarTypes are the media types an avatar may have.
var AvatarTypes = []string{"image/png", "image/jpeg", "image/webp"}

// ErrBadProfile: a profile's name or avatar breaks the rules (name: 1 to
// 64 bytes of UTF-8 text without control characters; avatar: a PNG, JPEG
// or WebP image of at most 1 MiB).
var ErrBadProfile = errors.New("invalid profile")

// Profile is a person's display name and avatar.
type Profile struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar"` // the avatar image's blob ID (blb_…), or "" for none
}

// Check checks the name and the form of the avatar's ID.
func (p Profile) Check() error {
	if err := identity.CheckName(p.Name, MaxProfileName); err != nil {
		return fmt.Errorf("%w: %w", ErrBadProfile, err)
	}
	if p.Avatar != "" {
		if _, err := blob.ParseBlobID(p.Avatar); err != nil {
			return fmt.Errorf("%w: avatar %q is not a blob ID (blb_…): %v", ErrBadProfile, p.Avatar, err)
		}
	}
	return nil
}

// Encode returns p's canonical encoding: {"name":…,"avatar":…}.
func (p Profile) Encode() []byte { return Stored{Profile: p}.Encode() }

// Stored is a profile as a device stores it. Default marks a profile made
// from the identity's name, which the person did not choose: any chosen
// profile beats it, however old (a device linked later writes its default
// before the person's chosen profile has synced to it).
type Stored struct {
	Profile
	Default bool
}

// Encode returns s's canonical encoding: {"name":…,"avatar":…} and, for a
// default, "default":true.
func (s Stored) Encode() []byte {
	w := struct {
		Name    string `json:"name"`
		Avatar  string `json:"avatar"`
		Default bool   `json:"default,omitempty"`
	}{s.Name, s.Avatar, s.Default}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err) // strings and a bool always marshal
	}
	return b
}

// DecodeProfile decodes an encoded profile strictly: at most
// MaxProfileValue bytes, one JSON object, a valid name and avatar.
// Unknown fields are ignored (the layout may grow, docs/apps.md).
func DecodeProfile(b []byte) (Stored, error) {
	if len(b) > MaxProfileValue {
		return Stored{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBadProfile, len(b), MaxProfileValue)
	}
	var w struct {
		Name    *string `json:"name"`
		Avatar  *string `json:"avatar"`
		Default bool    `json:"default"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&w); err != nil {
		return Stored{}, fmt.Errorf("%w: %w", ErrBadProfile, err)
	}
	if d.More() {
		return Stored{}, fmt.Errorf("%w: bytes after the object", ErrBadProfile)
	}
	if w.Name == nil {
		return Stored{}, fmt.Errorf("%w: no name", ErrBadProfile)
	}
	s := Stored{Profile: Profile{Name: *w.Name}, Default: w.Default}
	if w.Avatar != nil {
		s.Avatar = *w.Avatar
	}
	return s, s.Check()
}

// ProfileKey is the key of dev's copy of identity id's profile.
func ProfileKey(id keys.IdentityID, dev keys.AuthorID) []byte {
	return []byte(ProfilePrefix + id.String() + "/" + dev.String())
}

// AvatarKey is the key of the avatar image of dev's copy of id's profile.
func AvatarKey(id keys.IdentityID, dev keys.AuthorID) []byte {
	return append(ProfileKey(id, dev), "/avatar"...)
}

// ProfileEntry is the profile in force of one person in a space.
type ProfileEntry struct {
	Profile
	Default   bool // made from the identity's name (Stored.Default)
	Identity  keys.IdentityID
	Author    keys.AuthorID // the device that wrote it
	Time      commit.HLC    // of the commit that wrote it
	AvatarKey string        // the key of the avatar image, when Avatar is set
}

// Certified reports whether dev is a device certified by id in the space.
type Certified func(dev keys.AuthorID, id keys.IdentityID) bool

// CertifiedBy returns the Certified of the space's access state.
func CertifiedBy(acc store.Access) Certified {
	return func(dev keys.AuthorID, id keys.IdentityID) bool {
		for _, g := range acc.Certs(dev) {
			if g.Identity == id {
				return true
			}
		}
		return false
	}
}

// Profiles returns the profiles in force in space sp, per identity: the
// newest valid profile of the identity's certified devices. only, if not
// zero, limits it to that identity.
func Profiles(ctx context.Context, st *store.Store, sp keys.SpaceID, only keys.IdentityID, certified Certified) (map[keys.IdentityID]ProfileEntry, error) {
	prefix := ProfilePrefix
	if !only.IsZero() {
		prefix += only.String() + "/"
	}
	out := map[keys.IdentityID]ProfileEntry{}
	for kv, err := range st.Range(ctx, sp, store.Query{Prefix: []byte(prefix)}) {
		if err != nil {
			return nil, err
		}
		rest, _ := strings.CutPrefix(string(kv.Key), ProfilePrefix)
		idS, devS, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(devS, "/") || kv.Entry.Kind != commit.KindPut {
			continue // an avatar, or not a profile
		}
		id, err1 := keys.ParseIdentityID(idS)
		dev, err2 := keys.ParseAuthorID(devS)
		if err1 != nil || err2 != nil || kv.Entry.Author != dev || !certified(dev, id) {
			continue // not signed by a device of that person
		}
		p, err := DecodeProfile(kv.Entry.Value)
		if err != nil {
			continue
		}
		e := ProfileEntry{Profile: p.Profile, Default: p.Default, Identity: id, Author: dev, Time: kv.Entry.Time}
		if cur, ok := out[id]; ok && cur.Beats(e) {
			continue
		}
		if p.Avatar != "" {
			e.AvatarKey = string(AvatarKey(id, dev))
		}
		out[id] = e
	}
	return out, nil
}

// Beats reports whether e is the person's profile rather than o: a chosen
// one beats a default; otherwise the newer one.
func (e ProfileEntry) Beats(o ProfileEntry) bool {
	if e.Default != o.Default {
		return !e.Default
	}
	return newer(e.Time, e.Author, o.Time, o.Author)
}

// newer reports whether the write at (t, a) is newer than at (u, b): by
// time, then by author, so that every replica picks alike.
func newer(t commit.HLC, a keys.AuthorID, u commit.HLC, b keys.AuthorID) bool {
	if c := t.Compare(u); c != 0 {
		return c > 0
	}
	return bytes.Compare(a[:], b[:]) > 0
}

// addProfiles sets the profile of each person of a roster.
func addProfiles(ctx context.Context, st *store.Store, sp keys.SpaceID, people []Person, byAuthor map[keys.AuthorID]*Member) error {
	if len(people) == 0 {
		return nil
	}
	ps, err := Profiles(ctx, st, sp, keys.IdentityID{}, func(dev keys.AuthorID, id keys.IdentityID) bool {
		m := byAuthor[dev]
		return m != nil && m.Identity == id
	})
	if err != nil {
		return err
	}
	for i := range people {
		if e, ok := ps[people[i].Identity]; ok {
			people[i].Profile = e
		}
	}
	return nil
}
