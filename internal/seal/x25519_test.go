package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/curve25519"

	"github.com/loamdb/loam/internal/keys"
)

// TestX25519Derivation checks that the private side (SHA-512 of the seed,
// clamped) and the public side (birational map of the author ID) give one
// key pair, for many keys.
func TestX25519Derivation(t *testing.T) {
	for i := range 64 {
		var seed [32]byte
		seed[0], seed[1] = byte(i), 0x5a
		dev := keys.DeviceKeyFromSeed(seed)
		pub, err := x25519Public(dev.Author())
		if err != nil {
			t.Fatal(err)
		}
		priv := x25519Private(dev)
		got, err := curve25519.X25519(priv[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pub[:]) {
			t.Fatalf("seed %d: X25519(priv, base) = %x, birational map of author = %x", i, got, pub)
		}
	}
}

// TestX25519Libsodium checks the conversion against libsodium's
// test/default/ed25519_convert test vector.
func TestX25519Libsodium(t *testing.T) {
	seedHex := "421151a459faeade3d247115f94aedae42318124095afabe4d1451a559faedee"
	wantPub := "f1814f0e8ff1043d8a44d25babff3cedcae6c22c3edaa48f857ae70de2baae50"
	wantPriv := "8052030376d47112be7f73ed7a019293dd12ad910b654455798b4667d73de166"
	var seed [32]byte
	hex.Decode(seed[:], []byte(seedHex))
	dev := keys.DeviceKeyFromSeed(seed)
	pub, err := x25519Public(dev.Author())
	if err != nil {
		t.Fatal(err)
	}
	priv := x25519Private(dev)
	if got := hex.EncodeToString(pub[:]); got != wantPub {
		t.Errorf("public = %s, want %s", got, wantPub)
	}
	if got := hex.EncodeToString(priv[:]); got != wantPriv {
		t.Errorf("private = %s, want %s", got, wantPriv)
	}
}

func TestX25519PublicRejects(t *testing.T) {
	// The identity and other small-order points.
	id := edwards25519.NewIdentityPoint().Bytes()
	var a keys.AuthorID
	copy(a[:], id)
	if _, err := x25519Public(a); !errors.Is(err, ErrRecipient) {
		t.Errorf("identity: err = %v, want ErrRecipient", err)
	}
	// Some y for which no x exists.
	found := false
	for y := byte(2); y < 255 && !found; y++ {
		var b keys.AuthorID
		b[0] = y
		if _, err := new(edwards25519.Point).SetBytes(b[:]); err == nil {
			continue
		}
		found = true
		if _, err := x25519Public(b); !errors.Is(err, ErrRecipient) {
			t.Errorf("not a point: err = %v, want ErrRecipient", err)
		}
		if _, err := SealKey(b, ReadKey{1}, keys.SpaceID{}, 1); !errors.Is(err, ErrRecipient) {
			t.Errorf("SealKey to a non-point: err = %v, want ErrRecipient", err)
		}
	}
	if !found {
		t.Fatal("no invalid encoding found")
	}
}
