package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

func TestCertRoundTrip(t *testing.T) {
	c := goldenCert(t)
	back, err := identity.DecodeCert(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back != c {
		t.Fatalf("decoded %+v, want %+v", back, c)
	}
	r := goldenRevocation(t)
	rb, err := identity.DecodeRevocation(r.Encode())
	if err != nil || rb != r {
		t.Fatalf("revocation: %+v, %v", rb, err)
	}
}

// TestCertRejects: a certificate signed by another identity, one its device
// did not accept, or one changed after signing is refused, saying which.
func TestCertRejects(t *testing.T) {
	ana, bob := goldenIdentity(), identity.KeyFromSeed([32]byte{9})
	dev, other := keys.DeviceKeyFromSeed([32]byte{2}), keys.DeviceKeyFromSeed([32]byte{3})

	wrongID, _ := identity.NewCert(ana, dev, "laptop", goldenTime)
	wrongID.SignIdentity(bob) // Bob signs a certificate naming Ana
	notAccepted, _ := identity.NewCert(ana, dev, "laptop", goldenTime)
	notAccepted.SignDevice(other)
	renamed, _ := identity.NewCert(ana, dev, "laptop", goldenTime)
	renamed.Name = "phone"
	for _, c := range []struct {
		name string
		cert identity.Cert
		says string
	}{
		{"signed by the wrong identity", wrongID, "not signed by identity"},
		{"not accepted by the device", notAccepted, "not accepted by that device"},
		{"changed after signing", renamed, "not signed by identity"},
	} {
		_, err := identity.DecodeCert(c.cert.Encode())
		if !errors.Is(err, identity.ErrBadSignature) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A device cannot revoke its identity's other devices: only the
	// identity key signs a revocation.
	forged, _ := identity.NewRevocation(ana, other.Author(), goldenTime)
	forged.Sig = dev.Sign(identity.CtxRevokeSig, forged.Digest())
	if _, err := identity.DecodeRevocation(forged.Encode()); !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("revocation signed by a device: %v", err)
	}
	for _, name := range []string{"", strings.Repeat("x", identity.MaxDeviceName+1), "bad\x1b[2Jname"} {
		if _, err := identity.NewCert(ana, dev, name, goldenTime); !errors.Is(err, identity.ErrMalformed) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, err := identity.NewCert(ana, dev, "laptop", 0); !errors.Is(err, identity.ErrMalformed) {
		t.Errorf("time 0: %v", err)
	}
}

// TestDecodeStrict: non-canonical encodings, unknown or missing fields and
// oversized input are refused before any signature is checked.
func TestDecodeStrict(t *testing.T) {
	good := goldenCert(t).Encode()
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"unknown field", append([]byte{0xa7}, append(good[1:], 0x07, 0x00)...)},
		{"missing field", append([]byte{0xa5}, good[1:len(good)-67]...)},
		{"oversized", make([]byte, identity.MaxCertSize+1)},
		{"non-canonical name length", nonMinimalName(good)},
	} {
		if _, err := identity.DecodeCert(c.b); !errors.Is(err, identity.ErrMalformed) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// nonMinimalName re-encodes the name's length (key 3, text shorter than
// 24 bytes) in the two-byte form: valid CBOR, but not canonical.
func nonMinimalName(good []byte) []byte {
	// key 3 is followed by text of length < 24: 0x60|n. Rewrite as 0x78 n.
	for i := 0; i+1 < len(good); i++ {
		if good[i] == 0x03 && good[i+1]&0xe0 == 0x60 && good[i+1]&0x1f < 24 {
			out := append([]byte(nil), good[:i+1]...)
			out = append(out, 0x78, good[i+1]&0x1f)
			return append(out, good[i+2:]...)
		}
	}
	panic("no name field")
}
