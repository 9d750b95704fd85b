package reconcile

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
)

// The golden bytes of /loam/sync/1, also in docs/protocol/sync.md: every
// message, the frame around it, and the discovery ID and proofs of Hello,
// built from fixed keys (those of docs/format/commit.md). A change to any
// of them is a change of the protocol: a new Version, not a fix.

const syncDoc = "../../docs/protocol/sync.md"

// goldenSync is the world of the examples: the space of seed 01…01, peer A
// of device seed 02…02 (the admin its genesis grants), peer B of device
// seed 03…03, and the genesis, commit (a) of docs/format/commit.md.
type goldenSync struct {
	space   keys.SpaceKey
	a, b    keys.DeviceKey
	disc    keys.Digest
	genesis *commit.Commit
}

func fill32(b byte) (s [32]byte) {
	for i := range s {
		s[i] = b
	}
	return s
}

func newGoldenSync(t testing.TB) goldenSync {
	t.Helper()
	g := goldenSync{
		space: keys.SpaceKeyFromSeed(fill32(0x01)),
		a:     keys.DeviceKeyFromSeed(fill32(0x02)),
		b:     keys.DeviceKeyFromSeed(fill32(0x03)),
	}
	g.disc = keys.DiscoveryID(g.space.Space())
	var err error
	g.genesis, err = commit.Build(commit.Header{
		Space:  g.space.Space(),
		Author: g.space.Author(),
		Seq:    1,
		Time:   commit.HLC{Wall: 1_700_000_000_000_000},
	}, []commit.Op{commit.GrantOp(commit.Grant{Subject: g.a.Author(), Role: commit.RoleAdmin})}, g.space)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	goldenDisc     = "c819721895a82f372fdcb6e48857dd887052b53713d94238e78a49e52e54a625"
	goldenProofAB  = "0f3e562a642b83107ee59d187768e72bb8268c8c637eac81303aedc7115d283b"
	goldenProofBA  = "7f760f6ecfe35e1cacfc3944dc8c8bc7ac35d7ca03795760cb09130d651c8e5d"
	goldenSpaceID  = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
	goldenGenesis  = "e80a73f48215fd51986992ff726eb61df68d086c4a8b646028f8fc08bf43a1f7" // cmt_5afhh5ec…
	goldenGenesisB = `
a3 01 587a
  a6 01 5820 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
     02 5820 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
     03 01 05 82 1b00060a24181e4000 00
     08 5820 d80eaceb0bb2b136f44c28474a0738eb3f14dac3d72bc34eac340748f0149af5
     09 01
   02 5840 272567a02a5db845beab3cf43e2bf9b39773415009201dca227f0530a62f35d1
           814e28594ab18f68be4b0860bfb9c748b27066bba352cbf2f6ce28d7fceab008
   03 81 a2 01 10 03 5826 a2 01 5820 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394 02 03`
)

// goldenMsgs are the examples of docs/protocol/sync.md, in the order a
// session uses them, with their bytes.
func (g goldenSync) msgs() []struct {
	id   string
	msg  *Msg
	want string
} {
	return []struct {
		id   string
		msg  *Msg
		want string
	}{
		{"hello", &Msg{Type: msgHello, Version: Version, Spaces: []SpaceProof{{
			Disc:  g.disc,
			Proof: keys.SyncProof(g.space.Space(), g.a.Author(), g.b.Author()),
		}}}, "a3 01 01 02 01 03 81 82 5820" + goldenDisc + "5820" + goldenProofAB},
		{"have", &Msg{Type: msgHave, Disc: g.disc, Heads: []Head{{Author: g.space.Author(), Seq: 1, ID: g.genesis.ID}}},
			"a3 01 02 04 5820" + goldenDisc + "05 81 83 5820" + goldenSpaceID + "01 5820" + goldenGenesis},
		{"commits", &Msg{Type: msgCommits, Disc: g.disc, Commits: [][]byte{g.genesis.Bytes()}},
			"a3 01 03 04 5820" + goldenDisc + "06 81 58ef" + goldenGenesisB},
		{"want", &Msg{Type: msgWant, Disc: g.disc, IDs: []keys.CommitID{g.genesis.ID}},
			"a3 01 04 04 5820" + goldenDisc + "07 81 5820" + goldenGenesis},
		{"bye", &Msg{Type: msgBye, Reason: "protocol version 2, I speak 1"},
			"a2 01 05 08 781d 70726f746f636f6c2076657273696f6e20322c204920737065616b2031"},
		{"bye-closing", &Msg{Type: msgBye, Reason: ByeClosing}, "a2 01 05 08 67 636c6f73696e67"},
	}
}

// TestGoldenSyncProofs pins the discovery ID and the two proofs of the
// examples' Hello.
func TestGoldenSyncProofs(t *testing.T) {
	g := newGoldenSync(t)
	doc := golden.Load(t, syncDoc, "sync-proof")
	for _, c := range []struct {
		id   string
		got  keys.Digest
		want string
	}{
		{"sync-proof.discovery-id", g.disc, goldenDisc},
		{"sync-proof.ab", keys.SyncProof(g.space.Space(), g.a.Author(), g.b.Author()), goldenProofAB},
		{"sync-proof.ba", keys.SyncProof(g.space.Space(), g.b.Author(), g.a.Author()), goldenProofBA},
	} {
		if !bytes.Equal(c.got[:], golden.Hex(c.want)) {
			t.Errorf("%s = %x, want %s", c.id, c.got, c.want)
		}
		doc.Check(t, c.id, c.got[:])
	}
	if g.space.Space() != keys.SpaceID(golden.Hex(goldenSpaceID)) || g.genesis.ID.String() != "cmt_5afhh5eccx6vdgdjsl7xe3vwdx3i2cdmjkfwiybi7d6arp2duh3q" {
		t.Errorf("space %s, genesis %s: not those of docs/format/commit.md", g.space.Space(), g.genesis.ID)
	}
	if !bytes.Equal(g.genesis.Bytes(), golden.Hex(goldenGenesisB)) {
		t.Errorf("genesis bytes changed:\n%s", golden.Dump(g.genesis.Bytes()))
	}
}

// TestGoldenSyncMessages pins every message's encoding, checks that the
// golden bytes decode to the message, and that the decoder accepts no
// other encoding: a one-byte change is refused as misbehaviour, or is
// another message whose one encoding it is.
func TestGoldenSyncMessages(t *testing.T) {
	g := newGoldenSync(t)
	doc := golden.Load(t, syncDoc, "sync")
	for _, c := range g.msgs() {
		got, want := c.msg.Encode(), golden.Hex(c.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoding changed; now:\n%s", c.id, golden.Dump(got))
		}
		doc.Check(t, "sync."+c.id, got)

		back, err := DecodeMsg(want)
		if err != nil {
			t.Fatalf("%s: the golden bytes do not decode: %v", c.id, err)
		}
		if !reflect.DeepEqual(back, c.msg) {
			t.Errorf("%s: decoded %+v, want %+v", c.id, back, c.msg)
		}
		checkEveryByteChange(t, c.id, want)
	}
}

// checkEveryByteChange decodes b with each byte changed, cut short and
// lengthened: DecodeMsg refuses each as misbehaviour, or decodes a
// message whose canonical encoding is exactly the changed bytes.
func checkEveryByteChange(t *testing.T, id string, b []byte) {
	t.Helper()
	try := func(what string, x []byte) {
		m, err := DecodeMsg(x)
		switch {
		case err != nil && !errors.Is(err, ErrMisbehaving):
			t.Errorf("%s %s: error %v is not misbehaviour", id, what, err)
		case err == nil && !bytes.Equal(m.Encode(), x):
			t.Errorf("%s %s: accepted %x, which is not the encoding of what it decodes to", id, what, x)
		}
	}
	x := bytes.Clone(b)
	for i := range x {
		for _, flip := range []byte{0x01, 0x20, 0x80, 0xff} {
			x[i] ^= flip
			try("with a byte changed", x)
			x[i] ^= flip
		}
	}
	for n := range len(b) {
		if _, err := DecodeMsg(b[:n]); err == nil {
			t.Errorf("%s: accepted the first %d bytes", id, n)
		}
	}
	for _, tail := range []byte{0x00, 0xa0, 0xff} {
		if _, err := DecodeMsg(append(bytes.Clone(b), tail)); err == nil {
			t.Errorf("%s: accepted a trailing %02x", id, tail)
		}
	}
}

// TestGoldenSyncFrames pins the framing: a uvarint length, then the
// message. It is separate from the messages' encoding, so a change to the
// frame codec shows here alone.
func TestGoldenSyncFrames(t *testing.T) {
	g := newGoldenSync(t)
	doc := golden.Load(t, syncDoc, "sync-frame")
	msgs := map[string][]byte{}
	for _, c := range g.msgs() {
		msgs[c.id] = golden.Hex(c.want)
	}
	for _, c := range []struct {
		id     string
		msg    []byte
		length string // the frame's first bytes
	}{
		{"bye", msgs["bye"], "23"},           // 35 bytes: one byte
		{"commits", msgs["commits"], "9902"}, // 281 = 0x19 + 2·128: two bytes, low group first
	} {
		var stream bytes.Buffer
		conn := NewStreamConn(&stream, io.NopCloser(nil))
		if err := conn.WriteFrame(c.msg); err != nil {
			t.Fatal(err)
		}
		want := append(golden.Hex(c.length), c.msg...)
		if !bytes.Equal(stream.Bytes(), want) {
			t.Errorf("%s: written as\n%s", c.id, golden.Dump(stream.Bytes()))
		}
		if c.id == "commits" {
			doc.Check(t, "sync-frame.commits-length", stream.Bytes()[:len(c.length)/2])
		} else {
			doc.Check(t, "sync-frame."+c.id, stream.Bytes())
		}
		got, err := NewStreamConn(bytes.NewBuffer(want), io.NopCloser(nil)).ReadFrame()
		if err != nil || !bytes.Equal(got, c.msg) {
			t.Errorf("%s: read back %x, %v", c.id, got, err)
		}
	}
}
