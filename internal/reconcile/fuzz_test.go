package reconcile

import (
	"bytes"
	"errors"
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
