package space_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// TestPeopleWritePath (#12) through the write path and the real store: a
// grant to Ana as a person lets each device that carries Ana's certificate
// write, a device linked later included, with no grant of its own; after
// Ana's identity revokes the phone (carried by the laptop), the phone's
// writes are refused locally and its commits beyond the cut do not count.
func TestPeopleWritePath(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	ana := identity.KeyFromSeed([32]byte{7, 1})
	newDev := func() keys.DeviceKey {
		k, err := keys.NewDeviceKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	laptop, phone := newDev(), newDev()
	now := uint64(time.Now().UnixMicro())
	cert := func(d keys.DeviceKey) commit.Op {
		c, err := identity.NewCert(ana, d, "device", now)
		if err != nil {
			t.Fatal(err)
		}
		return commit.CertOp(c.Encode())
	}
	as := func(k keys.DeviceKey) *space.Space {
		sp, err := space.Open(ctx, f.st, f.sk.Space(), k, commit.NewClock())
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	put := func(k string) commit.Op { return commit.Put([]byte(k), []byte("v")) }

	if _, err := f.sp.Commit(ctx, []commit.Op{commit.GrantOp(commit.PersonGrant(ana.ID(), commit.RoleWrite))}); err != nil {
		t.Fatal(err)
	}
	// The phone has no certificate in the space yet: refused locally.
	if _, err := as(phone).Commit(ctx, []commit.Op{put("phone/0")}); !errors.Is(err, space.ErrReadOnly) {
		t.Fatalf("phone before its certificate: %v", err)
	}
	// The laptop's first commit carries its certificate and writes.
	if _, err := as(laptop).Commit(ctx, []commit.Op{cert(laptop), put("laptop/1")}); err != nil {
		t.Fatalf("laptop with its certificate: %v", err)
	}
	// The laptop carries the phone's certificate; the phone writes.
	if _, err := as(laptop).Commit(ctx, []commit.Op{cert(phone)}); err != nil {
		t.Fatal(err)
	}
	ph := as(phone)
	if _, err := ph.Commit(ctx, []commit.Op{put("phone/1")}); err != nil {
		t.Fatalf("phone linked later: %v", err)
	}
	// Ana's identity revokes the phone after its seq 1; the laptop carries it.
	rv, err := identity.NewRevocation(ana, phone.Author(), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as(laptop).Commit(ctx, []commit.Op{commit.DevRevokeOp(commit.DevRevoke{Revocation: rv.Encode(), LastSeq: 1})}); err != nil {
		t.Fatal(err)
	}
	if _, err := as(phone).Commit(ctx, []commit.Op{put("phone/2")}); !errors.Is(err, space.ErrReadOnly) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("phone after its revocation: %v", err)
	}
	for k, want := range map[string]bool{"laptop/1": true, "phone/1": true, "phone/0": false, "phone/2": false} {
		_, err := f.sp.Get(ctx, []byte(k))
		if got := err == nil; got != want {
			t.Errorf("%s: present %v, want %v (%v)", k, got, want, err)
		}
	}
}
