package view_test

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/view"
)

// FuzzDecodeCell: DecodeCell never panics, rejects with ErrCorrupt, and
// what it accepts is a well-formed cell that survives a round trip.
func FuzzDecodeCell(f *testing.F) {
	for _, c := range []view.Cell{
		smallCell(),
		{Live: []view.Entry{put(ver(1, 1, 1, 0), "v")}},
		{Live: []view.Entry{del(ver(1_700_000_000_000_000, 2, 9, 3))}},
		{Live: []view.Entry{put(ver(20, 2, 1, 0), "b"), put(ver(10, 1, 1, 0), "")}},
		{Live: []view.Entry{erased(put(ver(20, 2, 1, 0), "gone")), put(ver(10, 1, 1, 0), "kept")}},
		{Live: []view.Entry{lose(put(ver(20, 2, 1, 0), "lost here")), erased(put(ver(10, 1, 1, 0), "gone"))}},
	} {
		f.Add(view.AppendCell(nil, &c))
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := view.DecodeCell(b)
		if err != nil {
			if !errors.Is(err, view.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(c.Live) == 0 {
			t.Fatal("accepted a cell with no entries")
		}
		for i, e := range c.Live {
			if !e.Kind.IsData() || e.Seq == 0 || len(e.Value) > commit.MaxValueSize {
				t.Fatalf("accepted entry %d: kind %s, seq %d, %d-byte value", i, e.Kind, e.Seq, len(e.Value))
			}
			if i > 0 && c.Live[i-1].Version.Compare(e.Version) <= 0 {
				t.Fatalf("accepted entry %d out of order", i)
			}
		}
		// One cell, one encoding: what DecodeCell accepts re-encodes to b.
		enc := view.AppendCell(nil, &c)
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted a non-canonical cell:\n %x\nre-encodes as\n %x", b, enc)
		}
		c2, err := view.DecodeCell(enc)
		if err != nil {
			t.Fatalf("re-encoding %x does not decode: %v", enc, err)
		}
		if !equalCells(c, c2) {
			t.Fatalf("re-decode differs: %v, want %v", versions(&c2), versions(&c))
		}
		if enc2 := view.AppendCell(nil, &c2); !bytes.Equal(enc2, enc) {
			t.Fatalf("re-encoding is not stable:\n %x\n %x", enc, enc2)
		}
	})
}

// FuzzDecodeVV: DecodeVV never panics, rejects with ErrCorrupt, and what it
// accepts survives a round trip.
func FuzzDecodeVV(f *testing.F) {
	for _, v := range []view.VV{{}, {author(3): 42}, sampleVV()} {
		f.Add(view.AppendVV(nil, v))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := view.DecodeVV(b)
		if err != nil {
			if !errors.Is(err, view.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// One vector, one encoding: what DecodeVV accepts re-encodes to b.
		enc := view.AppendVV(nil, v)
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted a non-canonical vector:\n %x\nre-encodes as\n %x", b, enc)
		}
		v2, err := view.DecodeVV(enc)
		if err != nil || !maps.Equal(v, v2) {
			t.Fatalf("re-decode of %x: %v, %v; want %v", enc, v2, err, v)
		}
		if enc2 := view.AppendVV(nil, v2); !bytes.Equal(enc2, enc) {
			t.Fatalf("re-encoding is not stable:\n %x\n %x", enc, enc2)
		}
	})
}

func erased(e view.Entry) view.Entry {
	e.Erase()
	return e
}

func lose(e view.Entry) view.Entry {
	e.Lose()
	return e
}
