package store

import (
	"encoding/binary"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// Table tags.
const (
	tagMeta byte = 0x01
	tagName byte = 0x02
	// tagBodyDead: a body log segment's dead bytes, by segment number
	// (4 BE), not by space (bodies.go).
	tagBodyDead byte = 0x03
	// tagBodyEnd: one row, the body log's end as of the last batch that
	// appended to it (bodies.go, orphans).
	tagBodyEnd  byte = 0x04
	tagCommit   byte = 0x10
	tagCommitID byte = 0x11
	tagHead     byte = 0x12
	tagVV       byte = 0x13 // version vectors, written before #16: converted on load (causal.go)
	tagFork     byte = 0x14
	tagPast     byte = 0x15 // a commit's gains naming authors by ID, written before session 11: converted on load (causal.go)
	tagOffchain byte = 0x16
	tagGrant    byte = 0x17
	tagInvalid  byte = 0x18
	tagCut      byte = 0x19
	tagRotation byte = 0x1a
	tagHistory  byte = 0x1b
	tagErased   byte = 0x1c
	tagPolicy   byte = 0x1d
	// tagSchema: schema declarations, one row per schema op of a stored
	// commit, whether the commit counts or not (schema.go).
	tagSchema    byte = 0x1e
	tagCell      byte = 0x20
	tagViewState byte = 0x21
	tagLost      byte = 0x22 // writes held without payload or an erase that counts (lost.go)
	// tagFloor: a floored space's checkpoint and frontier (floor.go);
	// tagDeadCell: its dead cells at the frontier, the base a rebuild
	// starts from (reserved for step 4 of docs/plans/checkpoints.md).
	tagFloor    byte = 0x1f
	tagDeadCell byte = 0x23
	// tagOnce: the writes tracked for write-once rules, one row per key
	// of a commit that counts (schema.go).
	tagOnce byte = 0x24
	// tagAuthorNum numbers a space's authors, number (4 bytes) -> author,
	// numbers 0, 1, 2 ... in the order the store met them; tagGains holds
	// a main-chain commit's gains by author number (causal.go). Numbers
	// are this store's own: nothing sent to a peer carries them.
	tagAuthorNum byte = 0x26
	tagGains     byte = 0x27
)

func spaceKey(tag byte, sp keys.SpaceID, rest ...[]byte) []byte {
	n := 1 + keys.Size
	for _, r := range rest {
		n += len(r)
	}
	k := make([]byte, 0, n)
	k = append(k, tag)
	k = append(k, sp[:]...)
	for _, r := range rest {
		k = append(k, r...)
	}
	return k
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func commitKey(sp keys.SpaceID, a keys.AuthorID, seq uint64) []byte {
	return spaceKey(tagCommit, sp, a[:], be64(seq))
}

func vvKey(sp keys.SpaceID, a keys.AuthorID, seq uint64) []byte {
	return spaceKey(tagVV, sp, a[:], be64(seq))
}

func pastKey(sp keys.SpaceID, a keys.AuthorID, seq uint64) []byte {
	return spaceKey(tagPast, sp, a[:], be64(seq))
}

func gainsKey(sp keys.SpaceID, num uint32, seq uint64) []byte {
	return spaceKey(tagGains, sp, binary.BigEndian.AppendUint32(nil, num), be64(seq))
}

func authorNumKey(sp keys.SpaceID, num uint32) []byte {
	return spaceKey(tagAuthorNum, sp, binary.BigEndian.AppendUint32(nil, num))
}

func invalidKey(sp keys.SpaceID, a keys.AuthorID, seq uint64) []byte {
	return spaceKey(tagInvalid, sp, a[:], be64(seq))
}

func cellKey(sp keys.SpaceID, key []byte) []byte { return spaceKey(tagCell, sp, key) }

func rotationKey(sp keys.SpaceID, a keys.AuthorID, seq uint64, op uint32) []byte {
	return spaceKey(tagRotation, sp, a[:], be64(seq), binary.BigEndian.AppendUint32(nil, op))
}

func opSuffix(a keys.AuthorID, seq uint64, op uint32) []byte {
	return binary.BigEndian.AppendUint32(append(a[:len(a):len(a)], be64(seq)...), op)
}

// historyKey indexes a superseded write to key (see erase.go).
func historyKey(sp keys.SpaceID, key []byte, v view.Version) []byte {
	return spaceKey(tagHistory, sp, key, opSuffix(v.Author, v.Seq, v.Op))
}

// erasedKey records an op whose payload an erase op dropped.
func erasedKey(sp keys.SpaceID, a keys.AuthorID, seq uint64, op uint32) []byte {
	return spaceKey(tagErased, sp, opSuffix(a, seq, op))
}

func nameKey(name string) []byte { return append([]byte{tagName}, name...) }

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

type head struct {
	Seq  uint64
	ID   keys.CommitID
	Wall uint64
	Lgc  uint32
}

func (h head) encode() []byte {
	b := make([]byte, 0, 8+32+8+4)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = append(b, h.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Wall)
	return binary.BigEndian.AppendUint32(b, h.Lgc)
}

func decodeHead(b []byte) (head, bool) {
	if len(b) != 52 {
		return head{}, false
	}
	var h head
	h.Seq = binary.BigEndian.Uint64(b)
	copy(h.ID[:], b[8:40])
	h.Wall = binary.BigEndian.Uint64(b[40:])
	h.Lgc = binary.BigEndian.Uint32(b[48:])
	return h, true
}
