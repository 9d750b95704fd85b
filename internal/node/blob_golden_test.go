package node

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
)

// TestGoldenBlobFrames pins the framing of /loam/blob/1, the blocks
// blob-frame.* of docs/protocol/blob.md: a uvarint length in its
// shortest form, then the message. The messages' own bytes are pinned in
// internal/blob (TestGoldenBlobMessages); this test holds the frame
// around them, as the server writes it and as both ends read it.
func TestGoldenBlobFrames(t *testing.T) {
	doc := golden.Load(t, "../../docs/protocol/blob.md", "blob-frame")

	errMsg := &blob.BlobMsg{Type: blob.BlobMsgErr, Reason: "chunk 1 not held"}
	want := golden.Hex("15 a2 01 05 09 70 6368756e6b2031206e6f742068656c64")
	var st frameStream
	if err := newBlobConn(&st, 0).write(errMsg, 1<<10, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.out.Bytes(), want) {
		t.Errorf("Err framed as\n%s", golden.Dump(st.out.Bytes()))
	}
	doc.Check(t, "blob-frame.err", st.out.Bytes())
	got, err := readFrame(bufio.NewReader(bytes.NewReader(want)), maxRequestFrame)
	if err != nil || !bytes.Equal(got, want[1:]) {
		t.Errorf("read back %x, %v", got, err)
	}

	// A whole chunk: the example blob's chunk 0, bytes i mod 256.
	data := make([]byte, blob.ChunkSize)
	for i := range data {
		data[i] = byte(i)
	}
	chunk := &blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: blob.BlobID{1}, Data: data}
	st = frameStream{}
	if err := newBlobConn(&st, 0).write(chunk, 256<<10, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	length := golden.Hex("ac 80 40") // 1,048,620
	if !bytes.HasPrefix(st.out.Bytes(), length) || st.out.Len() != len(length)+1_048_620 {
		t.Errorf("a chunk's frame starts %x and is %d bytes", st.out.Bytes()[:4], st.out.Len())
	}
	doc.Check(t, "blob-frame.chunk-length", st.out.Bytes()[:3])
	got, err = readFrame(bufio.NewReader(bytes.NewReader(st.out.Bytes())), blob.MaxBlobFrame)
	if err != nil || !bytes.Equal(got, chunk.Encode()) {
		t.Errorf("the chunk's frame does not read back: %v", err)
	}
}

// frameStream is the write side of a stream, in memory.
type frameStream struct{ out bytes.Buffer }

func (s *frameStream) Read([]byte) (int, error)         { return 0, io.EOF }
func (s *frameStream) Write(p []byte) (int, error)      { return s.out.Write(p) }
func (s *frameStream) Close() error                     { return nil }
func (s *frameStream) CloseWrite() error                { return nil }
func (s *frameStream) Reset() error                     { return nil }
func (s *frameStream) Peer() keys.AuthorID              { return keys.AuthorID{} }
func (s *frameStream) SetDeadline(time.Time) error      { return nil }
func (s *frameStream) SetReadDeadline(time.Time) error  { return nil }
func (s *frameStream) SetWriteDeadline(time.Time) error { return nil }
