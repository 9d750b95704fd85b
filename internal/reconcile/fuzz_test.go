package reconcile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// FuzzDecodeMsg: DecodeMsg never panics, fails only with a misbehaviour
// error, and what it accepts is exactly the canonical encoding.
func FuzzDecodeMsg(f *testing.F) {
	for _, m := range []*Msg{
		{Type: msgHello, Version: Version, Spaces: []SpaceProof{{Disc: keys.Digest{1}, Proof: keys.Digest{2}}}},
		{Type: msgHave, Disc: keys.Digest{3}, Heads: []Head{{Author: keys.AuthorID{4}, Seq: 9, ID: keys.CommitID{5}}}},
		{Type: msgCommits, Disc: keys.Digest{6}, Commits: [][]byte{{1, 2, 3}}},
		{Type: msgWant, Disc: keys.Digest{7}, IDs: []keys.CommitID{{8}}},
		{Type: msgBye, Reason: "bye"},
	} {
		f.Add(m.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMsg(b)
		if err != nil {
			if !errors.Is(err, ErrMisbehaving) {
				t.Fatalf("error %v is not a misbehaviour error", err)
			}
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("accepted a non-canonical message %x", b)
		}
	})
}

// FuzzReadFrame: the stream framing reader never panics; every frame it
// returns holds 1..MaxFrame bytes taken from the stream in order; it fails
// only with a misbehaviour (a bad length) or the stream's own end.
func FuzzReadFrame(f *testing.F) {
	frame := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = binary.AppendUvarint(out, uint64(len(b)))
			out = append(out, b...)
		}
		return out
	}
	f.Add([]byte{})
	f.Add(frame([]byte("hello")))
	f.Add(frame([]byte("a"), (&Msg{Type: msgBye, Reason: "bye"}).Encode()))
	f.Add(frame([]byte("cut"))[:3])                             // cut in the body
	f.Add([]byte{0x80})                                         // cut in the length
	f.Add([]byte{0x00})                                         // an empty frame
	f.Add([]byte{0x85, 0x00, 'a', 'b', 'c', 'd', 'e'})          // a length not in its shortest form
	f.Add(binary.AppendUvarint(nil, MaxFrame+1))                // over the limit
	f.Add(bytes.Repeat([]byte{0xff}, 11))                       // over 64 bits
	f.Add(append(binary.AppendUvarint(nil, MaxFrame), 1, 2, 3)) // a largest frame, cut
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := NewStreamConn(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), io.Discard}, nopCloser{})
		total := 0
		for {
			b, err := sc.ReadFrame()
			if err != nil {
				if !errors.Is(err, ErrMisbehaving) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %v is neither misbehaviour nor the stream's end", err)
				}
				return
			}
			if len(b) == 0 || len(b) > MaxFrame {
				t.Fatalf("frame of %d bytes", len(b))
			}
			total += len(b)
			if total > len(in) || !bytes.Contains(in, b) {
				t.Fatalf("frame not taken from the stream")
			}
		}
	})
}
