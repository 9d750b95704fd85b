package keys_test

import (
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// FuzzParseIDs feeds arbitrary text to every identifier and secret-key
// parser. Run it with:
//
//	go test -run='^$' -fuzz=FuzzParseIDs -fuzztime=20s ./internal/keys
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{
		goldenZeroSpace, goldenSpace01, goldenAuthor02, goldenSpaceAuthor,
		goldenCommitCount, goldenCommitFF, goldenDevSecret02, goldenSpcSecret01,
		goldenDevSecret02 + "\n",
		goldenCommitFF[:len(goldenCommitFF)-1] + "7", // non-canonical tail
		strings.ToUpper(goldenAuthor02),
		"cmt_", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		accepted := 0
		if id, err := keys.ParseSpaceID(s); err == nil {
			accepted++
			if id.String() != s {
				t.Fatalf("ParseSpaceID(%q) = %s", s, id)
			}
		}
		if id, err := keys.ParseAuthorID(s); err == nil {
			accepted++
			if id.String() != s {
				t.Fatalf("ParseAuthorID(%q) = %s", s, id)
			}
		}
		if id, err := keys.ParseCommitID(s); err == nil {
			accepted++
			if id.String() != s {
				t.Fatalf("ParseCommitID(%q) = %s", s, id)
			}
		}
		if id, err := keys.ParseIdentityID(s); err == nil {
			accepted++
			if id.String() != s {
				t.Fatalf("ParseIdentityID(%q) = %s", s, id)
			}
		}
		// Secret keys are read from files: surrounding white space is
		// allowed, the rest must be exactly the text form.
		if k, err := keys.ParseDeviceKey(s); err == nil {
			accepted++
			if k.String() != strings.TrimSpace(s) {
				t.Fatalf("ParseDeviceKey(%q) = %s", s, k)
			}
		}
		if k, err := keys.ParseSpaceKey(s); err == nil {
			accepted++
			if k.String() != strings.TrimSpace(s) {
				t.Fatalf("ParseSpaceKey(%q) = %s", s, k)
			}
		}
		if accepted > 1 {
			t.Fatalf("%q parsed as %d kinds of identifier", s, accepted)
		}
	})
}
