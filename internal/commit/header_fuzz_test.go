package commit_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/loamdb/loam/internal/commit"
)

// FuzzDecodeHeader: DecodeHeader (which reads stored commits' headers
// without their ops) never panics, fails only with ErrMalformed, and
// agrees with Decode: a commit Decode accepts has the header and ID
// DecodeHeader reads. HeaderTime reads the time DecodeHeader reads.
func FuzzDecodeHeader(f *testing.F) {
	for _, b := range fuzzCommits(f) {
		f.Add(b)
		f.Add(b[:len(b)/2]) // the header whole, the ops cut
	}
	f.Add([]byte{})
	f.Add([]byte{0xa3, 0x01})
	f.Add([]byte{0xa3, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, id, err := commit.DecodeHeader(data)
		if err == nil {
			// HeaderTime reads the same time from every header
			// DecodeHeader accepts.
			if tm, err := commit.HeaderTime(data); err != nil || tm != h.Time {
				t.Fatalf("HeaderTime read %v (%v), DecodeHeader %v", tm, err, h.Time)
			}
		} else if _, err := commit.HeaderTime(data); err != nil && !errors.Is(err, commit.ErrMalformed) {
			t.Fatalf("HeaderTime's error %v does not wrap ErrMalformed", err)
		}
		if err != nil {
			if !errors.Is(err, commit.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if _, err := commit.Decode(data); err == nil {
				t.Fatal("Decode accepts a commit whose header DecodeHeader refuses")
			}
			return
		}
		c, err := commit.Decode(data)
		if err != nil {
			return // the ops or the signature are bad: DecodeHeader does not read them
		}
		if c.ID != id || !reflect.DeepEqual(c.Header, h) {
			t.Fatalf("DecodeHeader read %s %+v, Decode %s %+v", id, h, c.ID, c.Header)
		}
	})
}
