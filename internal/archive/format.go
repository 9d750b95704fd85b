package archive

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
	"unicode/utf8"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// The stream format, version 1 (docs/format/archive.md):
//
//	archive = magic version record* end
//	magic   = "LOAMARCH"                       8 bytes
//	version = 0x01                             1 byte
//	record  = kind(1) length(4, big-endian) body(length)
//
// Records, in this order: one 'S' (the space), then 'C' (one commit each),
// then per blob one 'B' (its ID and size) followed by 'D' records (its
// bytes, BlobDataSize each but the last), then one 'E' (the counts and the
// SHA-256 of every byte before it). Nothing may follow 'E'.
const (
	Magic   = "LOAMARCH"
	Version = 1

	KindSpace  = 'S'
	KindCommit = 'C'
	KindBlob   = 'B'
	KindData   = 'D'
	KindEnd    = 'E'

	// BlobDataSize is the size of every 'D' record of a blob but its last.
	BlobDataSize = 1 << 20
	// MaxNameSize bounds a space's local name in the 'S' record.
	MaxNameSize = 64

	recordHeader = 1 + 4
	endSize      = 8 + 8 + sha256.Size
	spaceMin     = keys.Size + 1 + 8 + 1 // ID, name length, created, flags
	blobSize     = keys.Size + 8
)

// Flags of the 'S' record.
const flagPrivate = 1

// ErrBadArchive is wrapped by every error about an archive's bytes: not an
// archive, of another version, damaged or cut short.
var ErrBadArchive = errors.New("not a valid Loam archive")

// Header is what the 'S' record says of the space.
type Header struct {
	Space    keys.SpaceID
	Name     string    // its local name where it was archived
	Created  time.Time // when that node first stored it (to the second)
	Private  bool
	ReadKeys []keys.EpochKey // only if the archive was made with them
}

func (h Header) encode() ([]byte, error) {
	if len(h.Name) == 0 || len(h.Name) > MaxNameSize {
		return nil, fmt.Errorf("archive: space name of %d bytes (1..%d)", len(h.Name), MaxNameSize)
	}
	b := append([]byte(nil), h.Space[:]...)
	b = append(b, byte(len(h.Name)))
	b = append(b, h.Name...)
	b = binary.BigEndian.AppendUint64(b, uint64(max(h.Created.Unix(), 0)))
	var flags byte
	if h.Private {
		flags |= flagPrivate
	}
	b = append(b, flags)
	return append(b, keys.EncodeEpochKeys(h.ReadKeys)...), nil
}

func decodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < spaceMin {
		return h, bad("space record of %d bytes", len(b))
	}
	copy(h.Space[:], b)
	n := int(b[keys.Size])
	if n == 0 || n > MaxNameSize || len(b) < spaceMin+n {
		return h, bad("space name of %d bytes", n)
	}
	rest := b[keys.Size+1:]
	h.Name = string(rest[:n])
	if !utf8.ValidString(h.Name) {
		return h, bad("space name is not UTF-8")
	}
	rest = rest[n:]
	secs := binary.BigEndian.Uint64(rest)
	if secs > 1<<40 {
		return h, bad("space created at %d", secs)
	}
	h.Created = time.Unix(int64(secs), 0).UTC()
	flags := rest[8]
	if flags&^flagPrivate != 0 {
		return h, bad("unknown space flags %#x", flags)
	}
	h.Private = flags&flagPrivate != 0
	ks, err := keys.DecodeEpochKeys(rest[9:])
	if err != nil {
		return h, bad("read keys: %v", err)
	}
	if len(ks) > 0 && !h.Private {
		return h, bad("read keys for a public space")
	}
	h.ReadKeys = ks
	return h, nil
}

// maxSpaceRecord bounds the 'S' record.
const maxSpaceRecord = spaceMin + MaxNameSize + keys.MaxEpochKeys*40

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadArchive, fmt.Sprintf(format, args...))
}

// Encoder writes an archive. It is not safe for concurrent use.
type Encoder struct {
	w       io.Writer
	h       hash.Hash
	commits uint64
	blobs   uint64
	inBlobs bool
	buf     []byte
	err     error
}

// NewEncoder writes the magic, the version and h's 'S' record to w.
func NewEncoder(w io.Writer, h Header) (*Encoder, error) {
	body, err := h.encode()
	if err != nil {
		return nil, err
	}
	e := &Encoder{w: w, h: sha256.New(), buf: make([]byte, BlobDataSize)}
	e.write(append([]byte(Magic), Version))
	e.record(KindSpace, body)
	return e, e.err
}

func (e *Encoder) write(b []byte) {
	if e.err != nil {
		return
	}
	e.h.Write(b)
	if _, err := e.w.Write(b); err != nil {
		e.err = fmt.Errorf("archive: write: %w", err)
	}
}

func (e *Encoder) record(kind byte, body []byte) {
	hd := recordHead(kind, len(body))
	e.write(hd[:])
	e.write(body)
}

// Commit writes one commit's bytes. Every commit comes before every blob.
func (e *Encoder) Commit(b []byte) error {
	switch {
	case e.err != nil:
		return e.err
	case e.inBlobs:
		return errors.New("archive: a commit after a blob")
	case len(b) == 0 || len(b) > commit.MaxCommitSize:
		return fmt.Errorf("archive: commit of %d bytes", len(b))
	}
	e.record(KindCommit, b)
	e.commits++
	return e.err
}

// Blob writes blob id of size bytes, read from r, which must hold exactly
// that many.
func (e *Encoder) Blob(id blob.BlobID, size int64, r io.Reader) error {
	if e.err != nil {
		return e.err
	}
	if size <= 0 || size > blob.MaxBlobSize {
		return fmt.Errorf("archive: blob %s of %d bytes", id, size)
	}
	e.inBlobs = true
	hd := binary.BigEndian.AppendUint64(append([]byte(nil), id[:]...), uint64(size))
	e.record(KindBlob, hd)
	for left := size; left > 0 && e.err == nil; {
		n := min(left, BlobDataSize)
		if _, err := io.ReadFull(r, e.buf[:n]); err != nil {
			e.err = fmt.Errorf("archive: read blob %s: %w", id, err)
			return e.err
		}
		e.record(KindData, e.buf[:n])
		left -= n
	}
	e.blobs++
	return e.err
}

// Close writes the 'E' record. It does not close the underlying writer.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	sum := e.h.Sum(nil)
	b := binary.BigEndian.AppendUint64(nil, e.commits)
	b = binary.BigEndian.AppendUint64(b, e.blobs)
	e.record(KindEnd, append(b, sum...))
	if e.err == nil {
		e.err = errors.New("archive: closed")
		return nil
	}
	return e.err
}

// Item is one thing an archive holds: a commit, or a blob.
type Item struct {
	Commit []byte // the commit's bytes, not yet verified
	Blob   *BlobItem
}

// BlobItem is a blob in an archive. R reads its Size bytes, not yet
// verified against ID; what Next's caller leaves unread, Next skips.
type BlobItem struct {
	ID   blob.BlobID
	Size int64
	R    io.Reader
}

// Decoder reads an archive strictly: every record in its place, within its
// limits, the counts and the hash checked at the end. It is not safe for
// concurrent use.
type Decoder struct {
	r       *bufio.Reader
	h       hash.Hash
	commits uint64
	blobs   uint64
	inBlobs bool
	blob    *blobData // the blob being read, or nil
	done    bool
	err     error // sticky
}

// NewDecoder reads the magic, the version and the 'S' record.
func NewDecoder(r io.Reader) (*Decoder, Header, error) {
	d := &Decoder{r: bufio.NewReaderSize(r, 64<<10), h: sha256.New()}
	var pre [len(Magic) + 1]byte
	if err := d.full(pre[:]); err != nil {
		return nil, Header{}, err
	}
	if string(pre[:len(Magic)]) != Magic {
		return nil, Header{}, bad("it does not start with %q (is it an archive of 'loam space archive'?)", Magic)
	}
	if pre[len(Magic)] != Version {
		return nil, Header{}, bad("format version %d; this Loam reads version %d (upgrade Loam)", pre[len(Magic)], Version)
	}
	kind, body, err := d.record(maxSpaceRecord)
	if err != nil {
		return nil, Header{}, err
	}
	if kind != KindSpace {
		return nil, Header{}, bad("first record is %q, not the space", kind)
	}
	h, err := decodeHeader(body)
	if err != nil {
		return nil, Header{}, err
	}
	return d, h, nil
}

// full reads len(b) bytes into b and hashes them; a short read is a
// truncated archive.
func (d *Decoder) full(b []byte) error {
	if _, err := io.ReadFull(d.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return bad("it ends too early (truncated: copy it again)")
		}
		return fmt.Errorf("archive: read: %w", err)
	}
	d.h.Write(b)
	return nil
}

// head reads a record's kind and length, checking the length against max.
func (d *Decoder) head(max int) (byte, int, error) { return readHead(d.full, bad, max) }

func (d *Decoder) record(max int) (byte, []byte, error) { return readRecord(d.full, bad, max) }

// The record framing, shared by archives and backups:
// kind(1) length(4, big-endian) body(length).

// recordHead returns the header of a record of kind with a body of n bytes.
func recordHead(kind byte, n int) (hd [recordHeader]byte) {
	hd[0] = kind
	binary.BigEndian.PutUint32(hd[1:], uint32(n))
	return hd
}

// readHead reads a record's kind and length through full (which reads
// exactly len(p) bytes), checking the length against max; bad words the
// error, as an archive's or a backup's.
func readHead(full func(p []byte) error, bad func(format string, args ...any) error, max int) (byte, int, error) {
	var hd [recordHeader]byte
	if err := full(hd[:]); err != nil {
		return 0, 0, err
	}
	n := binary.BigEndian.Uint32(hd[1:])
	if int64(n) > int64(max) {
		return 0, 0, bad("record %q of %d bytes, the limit is %d", hd[0], n, max)
	}
	return hd[0], int(n), nil
}

// readRecord is readHead, then the record's body.
func readRecord(full func(p []byte) error, bad func(format string, args ...any) error, max int) (byte, []byte, error) {
	kind, n, err := readHead(full, bad, max)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, n)
	if err := full(body); err != nil {
		return 0, nil, err
	}
	return kind, body, nil
}

// maxRecord bounds every record after 'S'.
const maxRecord = max(commit.MaxCommitSize, BlobDataSize, endSize)

// Next returns the next item, or io.EOF once the end record is read and
// checked. Any other error is sticky.
func (d *Decoder) Next() (Item, error) { return sticky(&d.err, d.next) }

// sticky returns what next returns, keeping its first error in *err, and
// that error without calling next once there is one.
func sticky[T any](err *error, next func() (T, error)) (T, error) {
	if *err != nil {
		var zero T
		return zero, *err
	}
	it, e := next()
	if e != nil {
		*err = e
	}
	return it, e
}

func (d *Decoder) next() (Item, error) {
	if d.done {
		return Item{}, io.EOF
	}
	if b := d.blob; b != nil {
		if _, err := io.Copy(io.Discard, b); err != nil {
			return Item{}, err
		}
		d.blob = nil
	}
	sum := d.h.Sum(nil) // of every byte before this record
	kind, n, err := d.head(maxRecord)
	if err != nil {
		return Item{}, err
	}
	switch kind {
	case KindCommit:
		if d.inBlobs {
			return Item{}, bad("a commit after a blob")
		}
		if n == 0 || n > commit.MaxCommitSize {
			return Item{}, bad("commit record of %d bytes", n)
		}
		body := make([]byte, n)
		if err := d.full(body); err != nil {
			return Item{}, err
		}
		d.commits++
		return Item{Commit: body}, nil
	case KindBlob:
		if n != blobSize {
			return Item{}, bad("blob record of %d bytes", n)
		}
		body := make([]byte, n)
		if err := d.full(body); err != nil {
			return Item{}, err
		}
		var id blob.BlobID
		copy(id[:], body)
		size := int64(binary.BigEndian.Uint64(body[keys.Size:]))
		if size <= 0 || size > blob.MaxBlobSize {
			return Item{}, bad("blob %s of %d bytes", id, size)
		}
		d.inBlobs = true
		d.blobs++
		d.blob = &blobData{d: d, left: size}
		return Item{Blob: &BlobItem{ID: id, Size: size, R: d.blob}}, nil
	case KindEnd:
		if n != endSize {
			return Item{}, bad("end record of %d bytes", n)
		}
		body := make([]byte, n)
		if err := d.full(body); err != nil {
			return Item{}, err
		}
		c, b := binary.BigEndian.Uint64(body), binary.BigEndian.Uint64(body[8:])
		if c != d.commits || b != d.blobs {
			return Item{}, bad("it says %d commits and %d blobs, it holds %d and %d", c, b, d.commits, d.blobs)
		}
		if !bytes.Equal(body[16:], sum) {
			return Item{}, bad("its checksum does not match: it was damaged (copy it again)")
		}
		if _, err := d.r.ReadByte(); err != io.EOF {
			if err == nil {
				return Item{}, bad("data after its end")
			}
			return Item{}, fmt.Errorf("archive: read: %w", err)
		}
		d.done = true
		return Item{}, io.EOF
	case KindData:
		return Item{}, bad("blob data outside a blob")
	case KindSpace:
		return Item{}, bad("a second space record")
	}
	return Item{}, bad("unknown record kind %#x", kind)
}

// blobData reads a blob's 'D' records.
type blobData struct {
	d    *Decoder
	left int64 // bytes of the blob not yet read
	rec  int   // bytes of the current 'D' record not yet read
}

func (b *blobData) Read(p []byte) (int, error) {
	if b.d.err != nil {
		return 0, b.d.err
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	if b.rec == 0 {
		kind, n, err := b.d.head(BlobDataSize)
		if err == nil && kind != KindData {
			err = bad("blob cut short: record %q where its data goes on", kind)
		}
		if err == nil && int64(n) != min(b.left, BlobDataSize) {
			err = bad("blob data record of %d bytes, %d expected", n, min(b.left, BlobDataSize))
		}
		if err != nil {
			b.d.err = err
			return 0, err
		}
		b.rec = n
	}
	p = p[:min(len(p), b.rec)]
	n, err := io.ReadFull(b.d.r, p)
	b.d.h.Write(p[:n])
	b.rec -= n
	b.left -= int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = bad("it ends too early (truncated: copy it again)")
		} else {
			err = fmt.Errorf("archive: read: %w", err)
		}
		b.d.err = err
		return n, err
	}
	return n, nil
}
