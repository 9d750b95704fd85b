package identity_test

import (
	"bytes"
	"testing"

	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// The golden records of docs/format/identity.md, built from fixed keys:
// the identity of the phrase "abandon … art" (entropy 00 × 32) and the
// device key of seed 02 00 … 00. Pinned by a literal here and by the
// document's ```hex blocks; a change is a new format version, never a fix:
// certificates are kept in every space's signed history.

const identityDoc = "../../docs/format/identity.md"

// goldenPhraseIdentity is the identity of the phrase of entropy 00 × 32.
const goldenPhraseIdentity = "idt_blrhtgovhcgn55p7zktmfuzzp5fepuafltc6qprxoswmigm6tqja"

const goldenTime = 1_800_000_000_000_000 // 2027-01-15 08:00 UTC, in µs

func goldenIdentity() identity.Key { return identity.PhraseFromEntropy([32]byte{}).Key() }

func goldenCert(t testing.TB) identity.Cert {
	t.Helper()
	c, err := identity.NewCert(goldenIdentity(), keys.DeviceKeyFromSeed([32]byte{2}), "Ana's laptop", goldenTime)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func goldenRevocation(t testing.TB) identity.Revocation {
	t.Helper()
	r, err := identity.NewRevocation(goldenIdentity(), keys.DeviceKeyFromSeed([32]byte{2}).Author(), goldenTime+3_600_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGoldenIdentity(t *testing.T) {
	doc := golden.Load(t, identityDoc, "identity")
	for _, c := range []struct {
		id   string
		got  []byte
		want string
	}{
		{"identity.cert", goldenCert(t).Encode(), goldenCertHex},
		{"identity.revocation", goldenRevocation(t).Encode(), goldenRevocationHex},
	} {
		if !bytes.Equal(c.got, golden.Hex(c.want)) {
			t.Errorf("%s: encoding changed; now:\n%s", c.id, golden.Dump(c.got))
		}
		doc.Check(t, c.id, c.got)
	}
}

const goldenCertHex = `
a6 01 5820 0ae27999d5388cdef5ffcaa6c2d3397f4a47d0055cc5e83e3774acc4199e9c12
   02 5820 6b79c57e6a095239282c04818e96112f3f03a4001ba97a564c23852a3f1ea5fc
   03 6c 416e612773206c6170746f70
   04 1b0006651728988000
   05 5840 9fd64e097f302900011a530f760564af76d226431424e6ad5d6d0fdb003c459c
           6550be476d830d899707411afafaa01e84abb1bfcd2acb0dd6a2d111523da407
   06 5840 da73360939843231434ab4eeab2d43869d998a564fdbc0da2a7678bfb0949eee
           46437360baf3969457521ce63beb52624e7ca570fb01f164f8612d9c75d1b104`

const goldenRevocationHex = `
a4 01 5820 0ae27999d5388cdef5ffcaa6c2d3397f4a47d0055cc5e83e3774acc4199e9c12
   02 5820 6b79c57e6a095239282c04818e96112f3f03a4001ba97a564c23852a3f1ea5fc
   03 1b00066517ff2c2400
   04 5840 5b39fd669c754a159278392f8ed2d3b6582c2cc3b5d8856b984b7aed80101291
           b3980fbad002facc81cddd4c05b4174f329e994a8087ff8efc006a2c6ebfc60d`
