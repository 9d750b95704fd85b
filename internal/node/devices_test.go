package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// TestPersonSpaceRotationSealsToIdentity: a rotation of the person's own
// space, made on a device holding the identity key, seals the new read
// key to the identity too; a device recovered from the phrase alone opens
// it (and one keeping the key only in the phrase does not). Another
// private space's rotation does not seal to the identity.
func TestPersonSpaceRotationSealsToIdentity(t *testing.T) {
	ctx := ctxT(t)
	laptop := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	ana, phrase := newIdentity(t, laptop, "Ana", "laptop")
	sk, epoch0 := phrase.Key().PersonSpace()
	ps := sk.Space()
	if err := laptop.rk.Add(ps, []keys.EpochKey{{Epoch: 0, Key: epoch0}}); err != nil {
		t.Fatal(err)
	}
	rot, err := laptop.rotation(ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := commit.DecodeRotate(rot.Op)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Keys) != 1 || r.Keys[0].Reader != keys.AuthorID(ana.ID) || rot.Epoch != 1 {
		t.Fatalf("the person space's rotation seals to %+v, want the identity alone", r.Keys)
	}
	other := keys.SpaceID{9}
	if err := laptop.rk.Add(other, []keys.EpochKey{{Epoch: 0, Key: epoch0}}); err != nil {
		t.Fatal(err)
	}
	if rot, err := laptop.rotation(other, nil); err != nil {
		t.Fatal(err)
	} else if r, _ := commit.DecodeRotate(rot.Op); len(r.Keys) != 0 {
		t.Fatalf("another space's rotation seals to %+v", r.Keys)
	}

	recovered := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	recoverIdentity(t, recovered, phrase, "Ana", IdentityOptions{Device: "new"})
	recovered.rk.Rotated(ps, false, rot.Payload)
	if k, ok := recovered.rk.Current(ps); !ok || k.Epoch != 1 {
		t.Fatalf("the recovered device does not read the new epoch: %+v %v", k, ok)
	}
	phraseOnly := openWith(t, Options{Home: t.TempDir(), Offline: true, NoSync: true})
	recoverIdentity(t, phraseOnly, phrase, "Ana", IdentityOptions{Device: "old", PhraseOnly: true})
	phraseOnly.rk.Rotated(ps, false, rot.Payload)
	if k, ok := phraseOnly.rk.Current(ps); ok && k.Epoch == 1 {
		t.Fatal("a device without the identity key opened a key sealed to the identity")
	}
	if _, err := phraseOnly.RevokeDevice(ctx, "laptop"); !errors.Is(err, ErrNoIdentityKey) {
		t.Fatalf("a device without the identity key: %v", err)
	}
}

// TestPickDevice: a device is named by its name or author ID; an unknown
// name lists the known ones, an ambiguous one their author IDs.
func TestPickDevice(t *testing.T) {
	a, b, c := keys.AuthorID{1}, keys.AuthorID{2}, keys.AuthorID{3}
	devs := []Device{{Author: a, Name: "laptop", This: true}, {Author: b, Name: "phone"}, {Author: c, Name: "phone"}}
	if d, err := pickDevice(devs, "laptop"); err != nil || d.Author != a {
		t.Fatalf("laptop: %+v, %v", d, err)
	}
	if d, err := pickDevice(devs, " "+c.String()); err != nil || d.Author != c {
		t.Fatalf("by author ID: %+v, %v", d, err)
	}
	_, err := pickDevice(devs, "phone")
	if !errors.Is(err, ErrUnknownDevice) || !strings.Contains(err.Error(), b.String()) || !strings.Contains(err.Error(), c.String()) {
		t.Fatalf("ambiguous: %v", err)
	}
	_, err = pickDevice(devs, "tablet")
	if !errors.Is(err, ErrUnknownDevice) || !strings.Contains(err.Error(), `"laptop", "phone", "phone"`) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := pickDevice(devs, keys.AuthorID{9}.String()); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown author: %v", err)
	}
}
