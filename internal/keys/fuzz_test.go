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
	all := []struct {
		name   string
		parse  func(string) (string, error)
		secret bool // read from files: surrounding white space is allowed, the rest must be exactly the text form
	}{
		{"ParseSpaceID", parseText(keys.ParseSpaceID), false},
		{"ParseAuthorID", parseText(keys.ParseAuthorID), false},
		{"ParseCommitID", parseText(keys.ParseCommitID), false},
		{"ParseIdentityID", parseText(keys.ParseIdentityID), false},
		{"ParseDeviceKey", parseText(keys.ParseDeviceKey), true},
		{"ParseSpaceKey", parseText(keys.ParseSpaceKey), true},
	}
	f.Fuzz(func(t *testing.T, s string) {
		accepted := 0
		for _, p := range all {
			got, err := p.parse(s)
			if err != nil {
				continue
			}
			accepted++
			want := s
			if p.secret {
				want = strings.TrimSpace(s)
			}
			if got != want {
				t.Fatalf("%s(%q) = %s", p.name, s, got)
			}
		}
		if accepted > 1 {
			t.Fatalf("%q parsed as %d kinds of identifier", s, accepted)
		}
	})
}
