package bodylog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	// MaxRecord is the largest record Append takes, in bytes.
	MaxRecord = 64 << 20

	// DefaultSegmentSize is the target size of a segment file.
	DefaultSegmentSize = 64 << 20

	// maxSegmentSize bounds Options.SegmentSize so that every offset in a
	// segment, even one holding a MaxRecord record alone, fits a uint32.
	maxSegmentSize = 1 << 30

	// Version is the segment format version this build writes and reads.
	Version = 1

	// magic opens every segment file.
	magic = "loamseg1"

	// headerSize is the segment header's length: magic, version, number.
	headerSize = 16

	// recordHeaderSize is a record's length and checksum.
	recordHeaderSize = 8

	// PlaceSize is the length of an encoded Place.
	PlaceSize = 12

	// maxSeg is the largest segment number a file name of 8 digits holds.
	maxSeg = 99_999_999
)

// castagnoli is the CRC-32C table records are checksummed with.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors the log returns; check them with errors.Is.
var (
	// ErrCorrupt: a place names no record the log holds (past the tail, in
	// a missing segment), or the record there does not decode.
	ErrCorrupt = errors.New("corrupt or missing record")
	// ErrTooLarge: a record longer than MaxRecord was given to Append.
	ErrTooLarge = errors.New("record longer than 64 MiB")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("bodylog: log closed")
)

// A Place is where a record lies: its segment's number, the offset of the
// record's header in that segment, and the length of its bytes.
type Place struct {
	Seg uint32
	Off uint32
	Len uint32
}

func (p Place) String() string {
	return fmt.Sprintf("%s@%d+%d", segName(p.Seg), p.Off, p.Len)
}

// AppendPlace appends p's 12-byte encoding to dst: Seg, Off and Len, each
// a little-endian uint32.
func AppendPlace(dst []byte, p Place) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, p.Seg)
	dst = binary.LittleEndian.AppendUint32(dst, p.Off)
	return binary.LittleEndian.AppendUint32(dst, p.Len)
}

// DecodePlace decodes the place AppendPlace wrote at the start of b and
// returns it and the bytes it took (PlaceSize). It refuses a place no Log
// writes: segment 0, an offset inside the segment header, a length over
// MaxRecord.
func DecodePlace(b []byte) (Place, int, error) {
	if len(b) < PlaceSize {
		return Place{}, 0, fmt.Errorf("bodylog: place of %d bytes, want %d", len(b), PlaceSize)
	}
	p := Place{
		Seg: binary.LittleEndian.Uint32(b[0:]),
		Off: binary.LittleEndian.Uint32(b[4:]),
		Len: binary.LittleEndian.Uint32(b[8:]),
	}
	switch {
	case p.Seg == 0 || p.Seg > maxSeg:
		return Place{}, 0, fmt.Errorf("bodylog: place names segment %d, outside 1..%d", p.Seg, maxSeg)
	case p.Off < headerSize:
		return Place{}, 0, fmt.Errorf("bodylog: place offset %d is inside the segment header", p.Off)
	case p.Len > MaxRecord:
		return Place{}, 0, fmt.Errorf("bodylog: place length %d is over the %d-byte cap", p.Len, MaxRecord)
	}
	return p, PlaceSize, nil
}

// recordSize is the bytes a record of n bytes takes in a segment.
func recordSize(n int) int64 { return recordHeaderSize + int64(n) }

// appendRecord appends rec's encoding to dst: its length (little-endian
// uint32), the CRC-32C of those 4 length bytes and rec (little-endian
// uint32), then rec.
func appendRecord(dst, rec []byte) []byte {
	at := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(rec)))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, rec...)
	sum := crc32.Update(crc32.Checksum(dst[at:at+4], castagnoli), castagnoli, rec)
	binary.LittleEndian.PutUint32(dst[at+4:], sum)
	return dst
}

// Why a record did not decode.
var (
	errShortHeader = errors.New("truncated record header")
	errTooLong     = errors.New("record length over the 64 MiB cap")
	errTruncated   = errors.New("truncated record")
	errChecksum    = errors.New("checksum mismatch")
)

// recordLen decodes a record header: the record's length, checked against
// the cap, and its checksum.
func recordLen(h []byte) (n uint32, sum uint32, err error) {
	if len(h) < recordHeaderSize {
		return 0, 0, errShortHeader
	}
	n = binary.LittleEndian.Uint32(h)
	if n > MaxRecord {
		return 0, 0, errTooLong
	}
	return n, binary.LittleEndian.Uint32(h[4:]), nil
}

// checkRecord reports whether sum is the checksum of the record whose
// header is h (the length's 4 bytes at its start) and whose bytes are rec.
func checkRecord(h []byte, sum uint32, rec []byte) error {
	if crc32.Update(crc32.Checksum(h[:4], castagnoli), castagnoli, rec) != sum {
		return errChecksum
	}
	return nil
}

// decodeRecord decodes the record at the start of b strictly: a header,
// a length within the cap and within b, a matching checksum. It returns
// the record's bytes (aliasing b) and the bytes the record took.
func decodeRecord(b []byte) ([]byte, int, error) {
	n, sum, err := recordLen(b)
	if err != nil {
		return nil, 0, err
	}
	end := recordSize(int(n))
	if end > int64(len(b)) {
		return nil, 0, errTruncated
	}
	rec := b[recordHeaderSize:end]
	if err := checkRecord(b, sum, rec); err != nil {
		return nil, 0, err
	}
	return rec, int(end), nil
}

// segName is segment seg's file name.
func segName(seg uint32) string { return fmt.Sprintf("%08d.seg", seg) }

// parseSegName returns the number of the segment file called name, if it
// is one: exactly 8 decimal digits, not all zeros, then ".seg".
func parseSegName(name string) (uint32, bool) {
	if len(name) != 12 || name[8:] != ".seg" {
		return 0, false
	}
	var n uint32
	for _, c := range name[:8] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint32(c-'0')
	}
	return n, n != 0
}

// appendHeader appends segment seg's header to dst: the magic, the format
// version and the segment's number, each number a little-endian uint32.
func appendHeader(dst []byte, seg uint32) []byte {
	dst = append(dst, magic...)
	dst = binary.LittleEndian.AppendUint32(dst, Version)
	return binary.LittleEndian.AppendUint32(dst, seg)
}

// checkHeader checks that h, the first bytes of the file of segment seg in
// dir, is that segment's header, and says what to do if not.
func checkHeader(h []byte, dir string, seg uint32) error {
	name := segName(seg)
	if len(h) < headerSize || string(h[:len(magic)]) != magic {
		return fmt.Errorf("bodylog: segment %s is not a Loam segment (bad header): move it out of %s", name, dir)
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != Version {
		return fmt.Errorf("bodylog: segment %s in %s has format version %d, and this build reads version %d: run a Loam that reads it", name, dir, v, Version)
	}
	if n := binary.LittleEndian.Uint32(h[12:]); n != seg {
		return fmt.Errorf("bodylog: segment %s says it is segment %d (renamed or copied?): move it out of %s", name, n, dir)
	}
	return nil
}
