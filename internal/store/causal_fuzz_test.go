package store

import (
	"bytes"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// FuzzDecodeGains runs the decoder of a commit's gains (tagGains rows) on
// arbitrary bytes, as read from a damaged disk: it must not panic, what it
// reads names only numbered authors, in increasing order, and encodes back
// to the same bytes (one encoding).
func FuzzDecodeGains(f *testing.F) {
	f.Add(appendGains(nil, []gain{{num: 0, seq: 1}, {num: 3, seq: 300}}), 4)
	f.Add(appendGains(nil, []gain{{num: 2, seq: 1}, {num: 1, seq: 2}}), 4) // out of order
	f.Add(appendGains(nil, []gain{{num: 7, seq: 1}}), 4)                   // not numbered
	f.Add(appendGains(nil, nil), 0)
	f.Add([]byte{0x05}, 10)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, v []byte, authors int) {
		authors = max(0, authors%100000)
		gs, err := decodeGains(v, authors)
		if err != nil {
			return
		}
		for i, g := range gs {
			if int(g.num) >= authors || i > 0 && g.num <= gs[i-1].num || g.seq == 0 {
				t.Fatalf("gain %d: %+v accepted with %d authors", i, g, authors)
			}
		}
		if !bytes.Equal(appendGains(nil, gs), v) {
			t.Fatal("gains do not encode back")
		}
	})
}

// FuzzDecodeOldGains runs the decoder of the gains rows written before
// session 11 (tag 0x15, authors by ID), which a load converts.
func FuzzDecodeOldGains(f *testing.F) {
	a := keys.DeviceKeyFromSeed([32]byte{1}).Author()
	b := keys.DeviceKeyFromSeed([32]byte{2}).Author()
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	f.Add(appendOldGains(nil, []oldGain{{author: a, seq: 1}, {author: b, seq: 300}}))
	f.Add(appendOldGains(nil, []oldGain{{author: b, seq: 1}, {author: a, seq: 2}})) // out of order
	f.Add(appendOldGains(nil, nil))
	f.Add([]byte{0x05})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		var gs []oldGain
		if err := eachOldGain(v, func(g oldGain) { gs = append(gs, g) }); err == nil && !bytes.Equal(appendOldGains(nil, gs), v) {
			t.Fatal("gains do not encode back")
		}
	})
}
