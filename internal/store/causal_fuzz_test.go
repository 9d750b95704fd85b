package store

import (
	"bytes"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// FuzzDecodeGains runs the decoder of a commit's gains (tag 0x15 rows) on
// arbitrary bytes, as read from a damaged disk: it must not panic, and
// what it reads encodes back to the same bytes (one encoding).
func FuzzDecodeGains(f *testing.F) {
	a := keys.DeviceKeyFromSeed([32]byte{1}).Author()
	b := keys.DeviceKeyFromSeed([32]byte{2}).Author()
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	f.Add(appendGains(nil, []gain{{author: a, seq: 1}, {author: b, seq: 300}}))
	f.Add(appendGains(nil, []gain{{author: b, seq: 1}, {author: a, seq: 2}})) // out of order
	f.Add(appendGains(nil, nil))
	f.Add([]byte{0x05})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		gs, err := decodeGains(v)
		if err == nil && !bytes.Equal(appendGains(nil, gs), v) {
			t.Fatal("gains do not encode back")
		}
	})
}
