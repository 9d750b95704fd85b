package bodylog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestRecordGolden: the record "hi" and the segment header are the bytes
// doc.go shows.
func TestRecordGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"record hi", appendRecord(nil, []byte("hi")), "02000000 59725a88 6869"},
		{"empty record", appendRecord(nil, nil), "00000000 c74b6748"},
		{"header of segment 3", appendHeader(nil, 3), "6c6f616d73656731 01000000 03000000"},
		{"place", AppendPlace(nil, Place{Seg: 2, Off: 16, Len: 830}), "02000000 10000000 3e030000"},
	} {
		want, err := hex.DecodeString(strings.ReplaceAll(c.want, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.got, want) {
			t.Errorf("%s: % x, want % x", c.name, c.got, want)
		}
	}
}

// TestDecodeRecordStrict: a record decodes only whole, within the cap,
// with its checksum; zeros (what a crash leaves in a file's unwritten
// blocks) are not a record.
func TestDecodeRecordStrict(t *testing.T) {
	good := appendRecord(nil, []byte("hello"))
	rec, n, err := decodeRecord(append(good, 0xff))
	if err != nil || string(rec) != "hello" || n != len(good) {
		t.Fatalf("decodeRecord(good) = %q, %d, %v", rec, n, err)
	}
	flip := func(i int, mask byte) []byte {
		b := bytes.Clone(good)
		b[i] ^= mask
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShortHeader},
		{"7 bytes", good[:7], errShortHeader},
		{"cut short", good[:len(good)-1], errTruncated},
		{"length over the cap", []byte{0x01, 0x00, 0x00, 0x04, 0, 0, 0, 0}, errTooLong},
		{"length made longer", flip(0, 0x10), errTruncated},
		{"length made shorter", flip(0, 0x01), errChecksum},
		{"length made huge", flip(3, 0x80), errTooLong},
		{"checksum flipped", flip(5, 0x01), errChecksum},
		{"byte flipped", flip(9, 0x01), errChecksum},
		{"zeros", make([]byte, 64), errChecksum},
	} {
		if _, _, err := decodeRecord(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestDecodePlace: a place round-trips; one a Log never writes is refused.
func TestDecodePlace(t *testing.T) {
	p := Place{Seg: 7, Off: 1 << 20, Len: 830}
	got, n, err := DecodePlace(append(AppendPlace(nil, p), 9, 9))
	if err != nil || got != p || n != PlaceSize {
		t.Fatalf("DecodePlace = %v, %d, %v; want %v, %d", got, n, err, p, PlaceSize)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", AppendPlace(nil, p)[:11], "place of 11 bytes"},
		{"segment 0", AppendPlace(nil, Place{Seg: 0, Off: 16}), "segment 0"},
		{"segment past 8 digits", AppendPlace(nil, Place{Seg: 100_000_000, Off: 16}), "segment 100000000"},
		{"offset in header", AppendPlace(nil, Place{Seg: 1, Off: 15}), "inside the segment header"},
		{"over the cap", AppendPlace(nil, Place{Seg: 1, Off: 16, Len: MaxRecord + 1}), "over the"},
	} {
		if _, _, err := DecodePlace(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// TestSegName: names are 8 digits and ".seg", from 1.
func TestSegName(t *testing.T) {
	if got := segName(42); got != "00000042.seg" {
		t.Errorf("segName(42) = %s", got)
	}
	for name, want := range map[string]uint32{
		"00000001.seg": 1, "99999999.seg": 99_999_999,
		"00000000.seg": 0, "0000001.seg": 0, "000000001.seg": 0, "0000000a.seg": 0,
		"00000001.seg.tmp": 0, "00000001.sst": 0, "+0000001.seg": 0,
	} {
		if got, ok := parseSegName(name); got != want || ok != (want != 0) {
			t.Errorf("parseSegName(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

// FuzzDecodeRecord: decoding never panics, and what decodes encodes back
// to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, []byte("hi")))
	f.Add(appendRecord(nil, nil))
	f.Add(appendRecord(nil, bytes.Repeat([]byte{0xab}, 830)))
	f.Add(make([]byte, 16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := decodeRecord(b)
		if err != nil {
			return
		}
		if n != len(rec)+recordHeaderSize || n > len(b) {
			t.Fatalf("took %d bytes for a record of %d in %d", n, len(rec), len(b))
		}
		if again := appendRecord(nil, rec); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded % x, decoded from % x", again, b[:n])
		}
	})
}

// FuzzDecodePlace: decoding never panics, and what decodes encodes back
// to the same 12 bytes.
func FuzzDecodePlace(f *testing.F) {
	f.Add(AppendPlace(nil, Place{Seg: 1, Off: 16, Len: 830}))
	f.Add(AppendPlace(nil, Place{Seg: 99_999_999, Off: 1<<32 - 1, Len: MaxRecord}))
	f.Add(make([]byte, 12))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := DecodePlace(b)
		if err != nil {
			return
		}
		if n != PlaceSize || !bytes.Equal(AppendPlace(nil, p), b[:n]) {
			t.Fatalf("DecodePlace(% x) = %v, %d", b, p, n)
		}
	})
}
