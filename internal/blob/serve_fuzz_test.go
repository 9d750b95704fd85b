package blob_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/frame"
)

// framed returns m framed as on a blob stream.
func framed(m *blob.BlobMsg) []byte {
	b := m.Encode()
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// FuzzReadBlobFrame feeds arbitrary bytes to the blob stream's frame
// reader (package frame, with the blob protocol's limits) and message
// decoder, as a request (the server's limit) and as an answer (the
// client's): a frame is read only whole and within its limit, it is the
// bytes after its length, and a message it accepts is framed again as the
// same bytes. Run it with:
//
//	go test -run='^$' -fuzz=FuzzReadBlobFrame -fuzztime=15s ./internal/blob
func FuzzReadBlobFrame(f *testing.F) {
	id := blob.BlobID{1, 2, 3}
	m, _ := blob.Split(bytes.NewReader(make([]byte, 3)), func(int, []byte) error { return nil })
	for _, b := range [][]byte{
		nil,
		{0},
		{1},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		{0x82, 0x00, 0x00, 0x00}, // a length not in its shortest form
		binary.AppendUvarint(nil, blob.MaxBlobFrame+1),
		framed(&blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id}),
		framed(&blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: 2, Count: 3}),
		append(framed(&blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id}), 7, 7),
		framed(&blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Manifest: m.Encode(), Chunks: 1, Have: blob.Bitmap{0x80}}),
		framed(&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: 1, Data: []byte("abc")}),
		framed(&blob.BlobMsg{Type: blob.BlobMsgErr, Reason: "not held"}),
		framed(&blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id})[:10],
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, limit := range []int{blob.MaxRequestFrame, blob.MaxBlobFrame} {
			r := bytes.NewReader(in)
			c := frame.NewConn(struct {
				io.Reader
				io.Writer
			}{r, io.Discard}, limit, frame.Timeouts{})
			b, err := c.ReadFrame()
			if err != nil {
				continue
			}
			if len(b) == 0 || len(b) > limit {
				t.Fatalf("read a frame of %d bytes with limit %d", len(b), limit)
			}
			head := len(binary.AppendUvarint(nil, uint64(len(b))))
			if !bytes.Equal(b, in[head:head+len(b)]) {
				t.Fatalf("the frame is not the %d bytes after its %d-byte length", len(b), head)
			}
			msg, err := blob.DecodeBlobMsg(b)
			if err != nil {
				continue
			}
			if again := framed(msg); !bytes.Equal(again, in[:head+len(b)]) {
				t.Fatalf("%x framed again is %x", in[:head+len(b)], again)
			}
		}
	})
}
