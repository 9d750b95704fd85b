package identity_test

import (
	"bytes"
	"testing"

	"github.com/loamdb/loam/internal/identity"
)

// FuzzDecode: DecodeCert and DecodeRevocation never panic, and whatever
// they accept re-encodes to the same bytes and verifies.
func FuzzDecode(f *testing.F) {
	c, r := goldenCert(f).Encode(), goldenRevocation(f).Encode()
	f.Add(c)
	f.Add(r)
	f.Add(c[:len(c)-1])
	f.Add([]byte{0xa0})
	f.Add(nonMinimalName(c))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := identity.DecodeCert(b); err == nil {
			if !bytes.Equal(c.Encode(), b) || c.Verify() != nil {
				t.Fatalf("accepted a certificate that does not round-trip: %x", b)
			}
		}
		if r, err := identity.DecodeRevocation(b); err == nil {
			if !bytes.Equal(r.Encode(), b) || r.Verify() != nil {
				t.Fatalf("accepted a revocation that does not round-trip: %x", b)
			}
		}
	})
}

// FuzzParsePhrase: ParsePhrase never panics, and a phrase it accepts
// prints as the same words, lowercased, single-spaced.
func FuzzParsePhrase(f *testing.F) {
	for _, v := range bip39Vectors {
		f.Add(v.phrase)
	}
	f.Add("abandon")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := identity.ParsePhrase(s)
		if err != nil {
			return
		}
		again, err := identity.ParsePhrase(p.String())
		if err != nil || again != p {
			t.Fatalf("%q parsed, but its words %q do not parse back: %v", s, p, err)
		}
	})
}
