package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/loamdb/loam/internal/blob"
)

// frame returns m framed as on a blob stream.
func frame(m *blob.BlobMsg) []byte {
	b := m.Encode()
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// FuzzReadBlobFrame feeds arbitrary bytes to the blob stream's frame
// reader and message decoder, as a request (the server's limit) and as an
// answer (the client's): a frame is read only whole and within its limit,
// the bytes after it are left unread, and a message it accepts is framed
// again as the same bytes. Run it with:
//
//	go test -run='^$' -fuzz=FuzzReadBlobFrame -fuzztime=15s ./internal/node
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
		frame(&blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id}),
		frame(&blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: 2, Count: 3}),
		append(frame(&blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id}), 7, 7),
		frame(&blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Manifest: m.Encode(), Chunks: 1, Have: blob.Bitmap{0x80}}),
		frame(&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: 1, Data: []byte("abc")}),
		frame(&blob.BlobMsg{Type: blob.BlobMsgErr, Reason: "not held"}),
		frame(&blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id})[:10],
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, limit := range []int{maxRequestFrame, blob.MaxBlobFrame} {
			r := bufio.NewReader(bytes.NewReader(in))
			b, err := readFrame(r, limit)
			if err != nil {
				continue
			}
			if len(b) == 0 || len(b) > limit {
				t.Fatalf("read a frame of %d bytes with limit %d", len(b), limit)
			}
			head := len(binary.AppendUvarint(nil, uint64(len(b))))
			if rest, _ := io.ReadAll(r); !bytes.Equal(rest, in[min(len(in), head+len(b)):]) || !bytes.Equal(b, in[head:head+len(b)]) {
				t.Fatalf("the frame is not the %d bytes after its %d-byte length", len(b), head)
			}
			msg, err := blob.DecodeBlobMsg(b)
			if err != nil {
				continue
			}
			if again := frame(msg); !bytes.Equal(again, in[:head+len(b)]) {
				t.Fatalf("%x framed again is %x", in[:head+len(b)], again)
			}
		}
	})
}
