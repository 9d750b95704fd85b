package loam_test

import (
	"errors"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/testkit"
)

// TestDevicesThroughDaemons: Ana's laptop and phone, each behind a
// daemon, write in Bob's club through Ana's person grant. The phone,
// whose identity key is only in the phrase, cannot revoke the laptop
// (ErrNoIdentityKey through the API); the laptop lists both devices and
// revokes the phone, and Bob (embedded) sees it cut; Bob then revokes Ana
// as a person (idt_…), and the laptop, a writer, may not.
func TestDevicesThroughDaemons(t *testing.T) {
	ctx := ctxT(t)
	bob, club := bobsClub(t, ctx)
	a := anaOnTwoDevices(t, ctx, bob, club, node.IdentityOptions{Device: "phone", PhraseOnly: true})
	ana, laptop, phone, lsp, psp := a.ana, a.laptop, a.second, a.lsp, a.ssp
	if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool { return psp.Put(ctx, []byte("from"), []byte("phone")) == nil }) {
		t.Fatal("the phone cannot write through Ana's grant")
	}
	var (
		ds  []loam.Device
		err error
	)
	if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
		ds, err = laptop.Devices(ctx)
		return err == nil && len(ds) == 2 && ds[1].LastSeen != nil
	}) {
		t.Fatalf("the laptop's devices: %+v, %v", ds, err)
	}
	if !ds[0].This || ds[0].Name != "laptop" || ds[1].Name != "phone" || ds[1].Author != phone.Author() || ds[1].Spaces != 1 || ds[1].Revoked != nil {
		t.Fatalf("the laptop's devices: %+v", ds)
	}

	if _, err := phone.RevokeDevice(ctx, "laptop"); !errors.Is(err, loam.ErrNoIdentityKey) {
		t.Fatalf("the phone without the identity key revoked the laptop: %v", err)
	}
	if _, err := laptop.RevokeDevice(ctx, "tablet"); !errors.Is(err, loam.ErrUnknownDevice) {
		t.Fatalf("an unknown device: %v", err)
	}
	if _, err := laptop.RevokeDevice(ctx, "laptop"); !errors.Is(err, loam.ErrRevokeThisDevice) {
		t.Fatalf("the laptop revoked itself: %v", err)
	}
	rv, err := laptop.RevokeDevice(ctx, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if rv.Author != phone.Author() || rv.Written != 1 {
		t.Fatalf("revoked %+v", rv)
	}
	if !testkit.Poll(30*time.Second, 10*time.Millisecond, func() bool {
		ms, err := club.Members(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			for _, d := range m.Devices {
				if d.Author == phone.Author() && d.Revoked != nil {
					return true
				}
			}
		}
		return false
	}) {
		t.Fatal("Bob does not see the phone revoked")
	}
	ds, err = laptop.Devices(ctx)
	if err != nil || ds[1].Revoked == nil || ds[1].Revoked.At == nil || ds[1].Revoked.Spaces != 1 {
		t.Fatalf("the laptop's devices after: %+v, %v", ds, err)
	}

	if _, err := lsp.Revoke(ctx, ana.ID); !errors.Is(err, node.ErrNotAdmin) {
		t.Fatalf("a writer revoked a person: %v", err)
	}
	r, err := club.Revoke(ctx, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Person != ana.ID || r.Author != "" || len(r.Devices) != 2 {
		t.Fatalf("revoked person: %+v", r)
	}
}
