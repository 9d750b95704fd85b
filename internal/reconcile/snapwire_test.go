package reconcile

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
)

// The golden bytes of /loam/snapshot/1, also in docs/protocol/snapshot.md,
// in the world of the sync examples (goldenSync): B, a fresh joiner, asks
// A for the space's snapshot. The checkpoint offered is stood in for by
// the genesis: the protocol does not look inside the commit.

const snapDoc = "../../docs/protocol/snapshot.md"

type snapCase struct {
	id   string
	msg  *SnapMsg
	want string
}

func goldenSnapMsgs(g goldenSync) []snapCase {
	proofBA := keys.SyncProof(g.space.Space(), g.b.Author(), g.a.Author())
	return []snapCase{
		{"offer", &SnapMsg{Type: SnapMsgOffer, Disc: g.disc, Proof: proofBA},
			"a3 01 01 02 5820" + goldenDisc + "03 5820" + goldenProofBA},
		{"none", &SnapMsg{Type: SnapMsgNone}, "a1 01 03"},
		{"offered", &SnapMsg{Type: SnapMsgOffered, Commit: g.genesis.Bytes(), Sizes: [SnapParts]uint64{4_184_064, 35_036, 8_105_984, 0, 2}},
			"a3 01 02 04 58ef" + goldenGenesisB + "06 85 1a003fd800 1988dc 1a007bb000 00 02"},
		{"section", &SnapMsg{Type: SnapMsgSection, Disc: g.disc, Proof: proofBA, ID: g.genesis.ID, Part: SnapCells, Offset: 1 << 20},
			"a6 01 04 02 5820" + goldenDisc + "03 5820" + goldenProofBA + "07 5820" + goldenGenesis + "08 03 09 1a00100000"},
		{"data", &SnapMsg{Type: SnapMsgData, Data: []byte("cells")}, "a2 01 05 0a 45 63656c6c73"},
		{"err", &SnapMsg{Type: SnapMsgErr, Reason: "that checkpoint's snapshot is not served here"},
			"a2 01 06 0b 782d 7468617420636865636b706f696e74277320736e617073686f74206973206e6f74207365727665642068657265"},
	}
}

// TestGoldenSnapMessages pins every snapshot message's encoding, checks
// that the golden bytes decode to the message, and that the decoder
// accepts no other encoding.
func TestGoldenSnapMessages(t *testing.T) {
	g := newGoldenSync(t)
	doc := golden.Load(t, snapDoc, "snapshot")
	for _, c := range goldenSnapMsgs(g) {
		got, want := c.msg.Encode(), golden.Hex(c.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoding changed; now:\n%s", c.id, golden.Dump(got))
		}
		doc.Check(t, "snapshot."+c.id, got)
		back, err := DecodeSnapMsg(want)
		if err != nil {
			t.Fatalf("%s: the golden bytes do not decode: %v", c.id, err)
		}
		if !reflect.DeepEqual(back, c.msg) {
			t.Errorf("%s: decoded %+v, want %+v", c.id, back, c.msg)
		}
		checkEverySnapByteChange(t, c.id, want)
	}
}

// checkEverySnapByteChange decodes b with each byte changed, cut short
// and lengthened: DecodeSnapMsg refuses each as misbehaviour, or decodes
// a message whose canonical encoding is exactly the changed bytes.
func checkEverySnapByteChange(t *testing.T, id string, b []byte) {
	t.Helper()
	x := bytes.Clone(b)
	for i := range x {
		for _, flip := range []byte{0x01, 0x20, 0x80, 0xff} {
			x[i] ^= flip
			m, err := DecodeSnapMsg(x)
			switch {
			case err != nil && !errors.Is(err, ErrMisbehaving):
				t.Errorf("%s with byte %d changed: error %v is not misbehaviour", id, i, err)
			case err == nil && !bytes.Equal(m.Encode(), x):
				t.Errorf("%s with byte %d changed: accepted %x, not the encoding of what it decodes to", id, i, x)
			}
			x[i] ^= flip
		}
	}
	for n := range len(b) {
		if _, err := DecodeSnapMsg(b[:n]); err == nil {
			t.Errorf("%s: accepted the first %d bytes", id, n)
		}
	}
	if _, err := DecodeSnapMsg(append(bytes.Clone(b), 0x00)); err == nil {
		t.Errorf("%s: accepted a trailing byte", id)
	}
}

// TestSnapMsgLimits: messages past the protocol's limits, or with a
// field their type does not carry or lacks, are refused as misbehaviour.
func TestSnapMsgLimits(t *testing.T) {
	g := newGoldenSync(t)
	big := make([]uint64, SnapParts)
	for _, c := range []struct {
		what string
		w    wireSnapMsg
	}{
		{"unknown type", wireSnapMsg{Type: 9}},
		{"offer without proof", wireSnapMsg{Type: SnapMsgOffer, Disc: g.disc[:]}},
		{"none with data", wireSnapMsg{Type: SnapMsgNone, Data: []byte{1}}},
		{"offered with 4 sizes", wireSnapMsg{Type: SnapMsgOffered, Commit: g.genesis.Bytes(), Sizes: []uint64{1, 2, 3, 4}}},
		{"offered over the part limit", wireSnapMsg{Type: SnapMsgOffered, Commit: g.genesis.Bytes(), Sizes: append(slicesOf(MaxSnapPart+1), big[1:]...)}},
		{"offered over the total limit", wireSnapMsg{Type: SnapMsgOffered, Commit: g.genesis.Bytes(), Sizes: []uint64{MaxSnapPart, 1, 0, 0, 0}}},
		{"offered with 17 verdicts", wireSnapMsg{Type: SnapMsgOffered, Commit: g.genesis.Bytes(), Sizes: big, Verdicts: make([][]byte, 17)}},
		{"section of part 6", wireSnapMsg{Type: SnapMsgSection, Disc: g.disc[:], Proof: g.disc[:], ID: g.disc[:], Part: 6}},
		{"section of part 0", wireSnapMsg{Type: SnapMsgSection, Disc: g.disc[:], Proof: g.disc[:], ID: g.disc[:]}},
		{"section with a short ID", wireSnapMsg{Type: SnapMsgSection, Disc: g.disc[:], Proof: g.disc[:], ID: g.disc[:31], Part: 1}},
		{"data over 1 MiB", wireSnapMsg{Type: SnapMsgData, Data: make([]byte, MaxSnapData+1)}},
		{"a long reason", wireSnapMsg{Type: SnapMsgErr, Reason: string(make([]byte, 1025))}},
	} {
		b, err := keys.CanonicalCBOR.Marshal(c.w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSnapMsg(b); !errors.Is(err, ErrBadSnapMsg) || !errors.Is(err, ErrMisbehaving) {
			t.Errorf("%s: %v, want ErrBadSnapMsg", c.what, err)
		}
	}
}

func slicesOf(v uint64) []uint64 { return []uint64{v} }

// TestKeptCommits: the kept-commits part round-trips, and a cut, a
// changed byte or a length not in its shortest form is refused.
func TestKeptCommits(t *testing.T) {
	g := newGoldenSync(t)
	b := EncodeKeptCommits([]*commit.Commit{g.genesis, g.genesis})
	cs, err := DecodeKeptCommits(b)
	if err != nil || len(cs) != 2 || cs[1].ID != g.genesis.ID {
		t.Fatalf("round trip: %v, %d commits", err, len(cs))
	}
	if cs, err := DecodeKeptCommits(nil); err != nil || len(cs) != 0 {
		t.Errorf("empty part: %v, %d commits", err, len(cs))
	}
	for _, bad := range [][]byte{
		b[:len(b)-1],
		append([]byte{b[0], 0x80 | b[1], 0x00}, b[2:]...), // the length 239 in three bytes, not two
		append(bytes.Clone(b[:40]), append([]byte{b[40] ^ 1}, b[41:]...)...),
		{0x00},
	} {
		if _, err := DecodeKeptCommits(bad); !errors.Is(err, ErrBadSnapMsg) {
			t.Errorf("%x…: %v, want ErrBadSnapMsg", bad[:min(8, len(bad))], err)
		}
	}
}

// FuzzDecodeSnapMsg: DecodeSnapMsg never panics, and what it accepts is
// the canonical encoding of what it decodes to.
func FuzzDecodeSnapMsg(f *testing.F) {
	g := newGoldenSync(f)
	for _, c := range goldenSnapMsgs(g) {
		f.Add(golden.Hex(c.want))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeSnapMsg(b)
		if err != nil {
			if !errors.Is(err, ErrMisbehaving) {
				t.Fatalf("error %v is not misbehaviour", err)
			}
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("accepted %x, which is not the encoding of %+v", b, m)
		}
	})
}

// FuzzDecodeKeptCommits: DecodeKeptCommits never panics, and what it
// accepts re-encodes to the same bytes.
func FuzzDecodeKeptCommits(f *testing.F) {
	g := newGoldenSync(f)
	f.Add(EncodeKeptCommits([]*commit.Commit{g.genesis}))
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := DecodeKeptCommits(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeKeptCommits(cs), b) {
			t.Fatalf("accepted %x, which does not re-encode to itself", b)
		}
	})
}
