package blob_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/blob"
)

// wireSamples returns one valid message of each kind.
func wireSamples() []*blob.BlobMsg {
	var id blob.BlobID
	id[0], id[31] = 0xb1, 0x0b
	m := blob.Manifest{Size: 2*blob.ChunkSize + 1, Chunks: []blob.ChunkID{{1}, {2}, {3}}}
	have := blob.NewBitmap(3)
	have.Set(0)
	have.Set(2)
	empty := blob.Manifest{}
	return []*blob.BlobMsg{
		{Type: blob.BlobMsgWant, Blob: id},
		{Type: blob.BlobMsgHave, Blob: m.ID(), Manifest: m.Encode(), Chunks: 3, Have: have},
		{Type: blob.BlobMsgHave, Blob: id, Chunks: 3, Have: blob.NewBitmap(3)}, // no manifest
		{Type: blob.BlobMsgHave, Blob: id},                                     // does not hold it
		{Type: blob.BlobMsgHave, Blob: empty.ID(), Manifest: empty.Encode()},   // the empty blob
		{Type: blob.BlobMsgGet, Blob: id, Index: 0, Count: 1},
		{Type: blob.BlobMsgGet, Blob: id, Index: 100, Count: blob.MaxGetCount},
		{Type: blob.BlobMsgChunk, Blob: id, Index: 7, Data: []byte("chunk")},
		{Type: blob.BlobMsgChunk, Blob: id, Index: 0, Data: bytes.Repeat([]byte{9}, blob.ChunkSize)},
		{Type: blob.BlobMsgErr, Reason: "not held"},
	}
}

func TestBlobMsgRoundTrip(t *testing.T) {
	for _, m := range wireSamples() {
		b := m.Encode()
		got, err := blob.DecodeBlobMsg(b)
		if err != nil {
			t.Fatalf("type %d: %v", m.Type, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("type %d: decoded %+v, want %+v", m.Type, got, m)
		}
	}
	// The encoding is part of the protocol: pin one.
	if got := hex.EncodeToString(wireSamples()[5].Encode()); got != "a3"+"0103"+"025820b1"+strings.Repeat("00", 30)+"0b"+"0701" {
		t.Fatalf("Get encodes as %s", got)
	}
}

func TestBlobMsgRejects(t *testing.T) {
	var id blob.BlobID
	big := blob.Manifest{Size: 9 * blob.ChunkSize, Chunks: make([]blob.ChunkID, 9)}
	bits := blob.NewBitmap(9)
	bits.Set(8)
	enc := func(m blob.BlobMsg) []byte { return m.Encode() }
	get := enc(blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: 1, Count: 2})
	for name, b := range map[string][]byte{
		"empty":              nil,
		"not a map":          {0x01},
		"unknown type":       enc(blob.BlobMsg{Type: 9, Blob: id}),
		"no type":            {0xa0},
		"short blob ID":      append([]byte{0xa2, 0x01, 0x01, 0x02, 0x41}, 0),
		"want with count":    enc(blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id, Count: 1}),
		"err with blob":      {0xa3, 0x01, 0x05, 0x02, 0x40, 0x09, 0x61, 'x'},
		"err without reason": enc(blob.BlobMsg{Type: blob.BlobMsgErr}),
		"long reason":        enc(blob.BlobMsg{Type: blob.BlobMsgErr, Reason: strings.Repeat("x", blob.MaxReasonLen+1)}),
		"bad UTF-8":          {0xa2, 0x01, 0x05, 0x09, 0x61, 0xff},
		"get of 0":           enc(blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: 1}),
		"get of 65":          enc(blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Count: blob.MaxGetCount + 1}),
		"get past the limit": enc(blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: blob.MaxChunks - 1, Count: 2}),
		"empty chunk":        enc(blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: 1}),
		"chunk too long":     enc(blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Data: make([]byte, blob.ChunkSize+1)}),
		"chunk past limit":   enc(blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: blob.MaxChunks, Data: []byte{1}}),
		"chunks, no bitmap":  enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Chunks: 9}),
		"bitmap too short":   enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Chunks: 9, Have: blob.NewBitmap(8)}),
		"bitmap too long":    enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Chunks: 8, Have: bits}),
		"bitmap padding set": enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Chunks: 9, Have: blob.Bitmap{0, 1}}),
		"bitmap, no chunks":  enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Have: blob.Bitmap{0}}),
		"manifest mismatch":  enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Manifest: big.Encode(), Chunks: 8, Have: blob.NewBitmap(8)}),
		"bad manifest":       enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Manifest: big.Encode()[:40], Chunks: 9, Have: bits}),
		"too many chunks":    enc(blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Chunks: blob.MaxChunks + 1, Have: blob.NewBitmap(blob.MaxChunks + 1)}),
		"explicit zero":      append([]byte{0xa4}, append(get[1:], 0x04, 0x00)...),
		"keys out of order":  {0xa2, 0x07, 0x01, 0x01, 0x03},
		"long integer head":  append([]byte{0xa3, 0x01, 0x18, 0x03}, get[3:]...),
		"duplicate key":      append([]byte{0xa4}, append(get[1:], 0x07, 0x02)...),
		"unknown key":        append([]byte{0xa4}, append(get[1:], 0x0a, 0x01)...),
		"trailing bytes":     append(get, 0),
		"indefinite map":     append(append([]byte{0xbf}, get[1:]...), 0xff),
		"tag":                append([]byte{0xc1}, get...),
	} {
		if m, err := blob.DecodeBlobMsg(b); !errors.Is(err, blob.ErrBadBlobMsg) {
			t.Errorf("%s: DecodeBlobMsg(%x) = %+v, %v", name, b, m, err)
		}
	}
	if _, err := blob.DecodeBlobMsg(get); err != nil {
		t.Fatalf("the base Get does not decode: %v", err)
	}
}

func TestBitmap(t *testing.T) {
	b := blob.NewBitmap(10)
	if len(b) != 2 || b.Count() != 0 {
		t.Fatalf("NewBitmap(10) = %x", b)
	}
	b.Set(0)
	b.Set(9)
	if !bytes.Equal(b, []byte{0x80, 0x40}) || !b.Has(0) || !b.Has(9) || b.Has(1) || b.Has(16) || b.Has(-1) || b.Count() != 2 {
		t.Fatalf("bitmap %x", b)
	}
	st := openStore(t, t.TempDir())
	_, m := addBytes(t, st, randBytes(50, 3*MiB))
	if err := st.Delete(m.Chunks[1]); err != nil {
		t.Fatal(err)
	}
	if got := st.Bitmap(m); !bytes.Equal(got, []byte{0xa0}) {
		t.Fatalf("Store.Bitmap = %x, want a0", got)
	}
}

func FuzzDecodeBlobMsg(f *testing.F) {
	for _, m := range wireSamples() {
		f.Add(m.Encode())
	}
	// Chunks spelled in every head width, and near-misses of the fast
	// path: a non-canonical index or length head, a length that lies.
	id := blob.BlobID{7}
	for _, tc := range []struct{ i, n int }{{0, 1}, {1, 23}, {23, 24}, {24, 255}, {255, 256}, {256, 65535}, {65536, 65536}} {
		f.Add((&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: tc.i, Data: make([]byte, tc.n)}).Encode())
	}
	ok := (&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: 5, Data: []byte("abc")}).Encode()
	f.Add(bytes.Replace(ok, []byte{0x06, 0x05}, []byte{0x06, 0x18, 0x05}, 1))
	f.Add(bytes.Replace(ok, []byte{0x08, 0x43}, []byte{0x08, 0x58, 0x03}, 1))
	f.Add(bytes.Replace(ok, []byte{0x08, 0x43}, []byte{0x08, 0x44}, 1))
	f.Add(append(bytes.Replace(ok, []byte{0x08, 0x43}, []byte{0x08, 0x44}, 1), 'd'))
	f.Add(bytes.Replace(ok, []byte{0x06, 0x05}, []byte{0x06, 0x00}, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := blob.DecodeBlobMsg(b)
		// The fast path for Chunks (wirechunk.go) decides as the
		// generic decoder does.
		g, gerr := blob.DecodeBlobMsgGeneric(b)
		if (err == nil) != (gerr == nil) {
			t.Fatalf("%x: DecodeBlobMsg says %v, the generic decoder %v", b, err, gerr)
		}
		if err == nil && !reflect.DeepEqual(m, g) {
			t.Fatalf("%x: DecodeBlobMsg gives %+v, the generic decoder %+v", b, m, g)
		}
		// The Client's split read (readChunk) accepts a frame cut
		// between header and data exactly where DecodeBlobMsg finds a
		// Chunk's data, with the same message, and at no other cut.
		isChunk := err == nil && m.Type == blob.BlobMsgChunk
		for k := 0; k <= min(len(b), 64); k++ {
			s, ok := blob.DecodeChunkSplit(b[:k], b[k:])
			if want := isChunk && k == len(b)-len(m.Data); ok != want {
				t.Fatalf("%x cut at %d: split decoder says %v, want %v", b, k, ok, want)
			}
			if ok && !reflect.DeepEqual(s, m) {
				t.Fatalf("%x cut at %d: split decoder gives %+v, DecodeBlobMsg %+v", b, k, s, m)
			}
		}
		if isChunk {
			if h := blob.ChunkHeaderLen(m.Index, len(b)); h != len(b)-len(m.Data) {
				t.Fatalf("%x: ChunkHeaderLen(%d, %d) = %d, the header has %d bytes", b, m.Index, len(b), h, len(b)-len(m.Data))
			}
		}
		if err != nil {
			if !errors.Is(err, blob.ErrBadBlobMsg) {
				t.Fatalf("error %v does not wrap ErrBadBlobMsg", err)
			}
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("%x re-encodes as %x", b, m.Encode())
		}
		if m.Type == blob.BlobMsgHave && m.Chunks > 0 && len(m.Have) != (m.Chunks+7)/8 {
			t.Fatalf("bitmap of %d bytes for %d chunks", len(m.Have), m.Chunks)
		}
		if m.Type == blob.BlobMsgChunk && (len(m.Data) == 0 || len(m.Data) > blob.ChunkSize) {
			t.Fatalf("chunk of %d bytes", len(m.Data))
		}
		if m.Type == blob.BlobMsgGet && (m.Count < 1 || m.Count > blob.MaxGetCount) {
			t.Fatalf("get of %d", m.Count)
		}
	})
}

// TestBlobMsgGolden pins the examples of docs/protocol/blob.md.
func TestBlobMsgGolden(t *testing.T) {
	data := make([]byte, blob.ChunkSize+5)
	for i := range data {
		data[i] = byte(i)
	}
	m, err := blob.Split(bytes.NewReader(data), func(int, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	id := m.ID()
	if id.String() != "blb_rcaxuzj6uqdrwbq73m6ajxwpmqpjavkvy3ayotudb6pxuicj2omq" {
		t.Fatalf("blob ID %s", id)
	}
	const idHex = "88817a653ea4071b061fdb3c04decf641e905555c6c1874e830f9f7a2049d399"
	bm := blob.NewBitmap(2)
	bm.Set(0)
	bm.Set(1)
	for _, c := range []struct {
		msg  *blob.BlobMsg
		want string
	}{
		{&blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id}, "a2010102" + "5820" + idHex},
		{&blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Manifest: m.Encode(), Chunks: 2, Have: bm},
			"a5010202" + "5820" + idHex + "035849" + hex.EncodeToString(m.Encode()) + "04020541c0"},
		{&blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: 1, Count: 1}, "a4010302" + "5820" + idHex + "06010701"},
		{&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: 1, Data: data[blob.ChunkSize:]}, "a4010402" + "5820" + idHex + "0601084500" + "01020304"},
		{&blob.BlobMsg{Type: blob.BlobMsgErr, Reason: "chunk 1 not held"}, "a2010509706368756e6b2031206e6f742068656c64"},
	} {
		if got := hex.EncodeToString(c.msg.Encode()); got != c.want {
			t.Errorf("type %d:\n got %s\nwant %s", c.msg.Type, got, c.want)
		}
	}
	ref := blob.Ref{ID: id, Size: m.Size, Type: "application/octet-stream"}
	if got := hex.EncodeToString(ref.Encode()); got != "a3015820"+idHex+"021a00100005037818"+hex.EncodeToString([]byte("application/octet-stream")) {
		t.Errorf("ref: %s", got)
	}
}

// TestChunkHeaderMatchesEncode: the header the server writes before a
// chunk's data (wirechunk.go) is the canonical encoding's, for every width
// of the index and length heads, and DecodeBlobMsg gives back the message
// with its data a slice of the frame; the Client's split read finds the
// header's length from the frame's and decodes the two parts the same.
func TestChunkHeaderMatchesEncode(t *testing.T) {
	id := blob.BlobID{1, 2, 3}
	for _, i := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, blob.MaxChunks - 1} {
		for _, n := range []int{1, 23, 24, 255, 256, 65535, 65536, blob.ChunkSize} {
			data := bytes.Repeat([]byte{byte(i + n)}, n)
			m := &blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: i, Data: data}
			want := m.Encode()
			got := append(blob.AppendChunkHeader(nil, id, i, n), data...)
			if !bytes.Equal(got, want) {
				t.Fatalf("chunk %d of %d bytes: header %x, Encode %x", i, n, got[:len(got)-n], want[:len(want)-n])
			}
			d, err := blob.DecodeBlobMsg(want)
			if err != nil {
				t.Fatalf("chunk %d of %d bytes: %v", i, n, err)
			}
			if !reflect.DeepEqual(d, m) {
				t.Fatalf("chunk %d of %d bytes: decoded %+v", i, n, d)
			}
			if &d.Data[0] != &want[len(want)-n] {
				t.Errorf("chunk %d of %d bytes: data copied, want a slice of the frame", i, n)
			}
			h := len(want) - n
			if got := blob.ChunkHeaderLen(i, len(want)); got != h {
				t.Errorf("chunk %d of %d bytes: ChunkHeaderLen %d, want %d", i, n, got, h)
			}
			if s, ok := blob.DecodeChunkSplit(want[:h], want[h:]); !ok || !reflect.DeepEqual(s, m) {
				t.Errorf("chunk %d of %d bytes: the split decoder gives %+v, %v", i, n, s, ok)
			}
		}
	}
}
