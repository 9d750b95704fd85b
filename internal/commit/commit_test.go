package commit

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/loamdb/loam/internal/keys"
)

func seed(b byte) [32]byte { return [32]byte(bytes.Repeat([]byte{b}, 32)) }

var (
	testSpace  = keys.SpaceKeyFromSeed(seed(1))
	testDevice = keys.DeviceKeyFromSeed(seed(2))
)

func build(t testing.TB, seq uint64, prev keys.CommitID, ops ...Op) *Commit {
	t.Helper()
	c, err := Build(Header{
		Space: testSpace.Space(), Author: testDevice.Author(), Seq: seq, Prev: prev,
		Time: HLC{Wall: 1_700_000_000_000_000 + seq, Logical: 0},
	}, ops, testDevice)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	c1 := build(t, 1, keys.CommitID{}, Put([]byte("tools/drill"), []byte("cordless")), Del([]byte("tools/saw")))
	c2 := build(t, 2, c1.ID, Put([]byte("a"), nil))
	for _, c := range []*Commit{c1, c2} {
		got, err := Verify(c.Bytes())
		if err != nil {
			t.Fatalf("Verify(%s): %v", c, err)
		}
		if got.ID != c.ID || got.Seq != c.Seq || got.Prev != c.Prev || len(got.Ops) != len(c.Ops) {
			t.Fatalf("round trip changed the commit: %+v vs %+v", got.Header, c.Header)
		}
		if !bytes.Equal(got.HeaderBytes(), c.HeaderBytes()) {
			t.Fatal("header bytes differ")
		}
		for i := range c.Ops {
			if got.Ops[i].Kind != c.Ops[i].Kind || !bytes.Equal(got.Ops[i].Key, c.Ops[i].Key) || !bytes.Equal(got.Ops[i].Payload, c.Ops[i].Payload) {
				t.Fatalf("op %d differs", i)
			}
		}
	}
}

// TestEveryFlippedByteRejected flips each bit pattern of each byte of an
// encoded commit: no variant may verify.
func TestEveryFlippedByteRejected(t *testing.T) {
	c := build(t, 2, keys.CommitID{9}, Put([]byte("chat/general/1"), []byte("hello neighbours")), Del([]byte("x")))
	raw := c.Bytes()
	for i := range raw {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(raw)
			b[i] ^= mask
			if got, err := Verify(b); err == nil {
				t.Fatalf("byte %d ^ %#x: tampered commit verified as %s", i, mask, got)
			}
		}
	}
}

func TestEraseKeepsSignature(t *testing.T) {
	c := build(t, 1, keys.CommitID{}, Put([]byte("k1"), []byte("secret value")), Put([]byte("k2"), []byte("v2")))
	e, err := c.Erase(0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Bytes(), []byte("secret value")) {
		t.Fatal("erased payload still present")
	}
	got, err := Verify(e.Bytes())
	if err != nil {
		t.Fatalf("erased commit does not verify: %v", err)
	}
	if got.ID != c.ID || !got.Ops[0].Erased || got.Ops[0].PayloadLen != len("secret value") {
		t.Fatalf("erase changed identity or lost digest: %+v", got.Ops[0])
	}
	if string(got.Ops[1].Payload) != "v2" {
		t.Fatal("other op damaged")
	}
}

// TestControlOpsNotErasable: erasing a grant, revoke, rotate, schema or
// blob op is refused, and a commit carrying one erased (as a peer could
// forward it, bypassing Erase) does not decode.
func TestControlOpsNotErasable(t *testing.T) {
	for _, o := range []Op{
		GrantOp(Grant{Subject: testDevice.Author(), Role: RoleWrite}),
		RevokeOp(Revoke{Author: testDevice.Author(), LastSeq: 1}),
		RotateOp(Rotate{Epoch: 1, Keys: []SealedKey{{Reader: testDevice.Author(), Sealed: []byte{1}}}}),
		SchemaOp(Schema{App: "chat", Version: 1}),
		{Kind: KindBlob, Payload: []byte{0xa0}},
	} {
		// A sealed op first: a blob op needs one beside it.
		c := build(t, 1, keys.CommitID{}, Op{Kind: KindSealed, Payload: []byte("ciphertext")}, o)
		if _, err := c.Erase(1); err == nil {
			t.Errorf("Erase of a %s op succeeded", o.Kind)
		}
		// Erase by hand, as a misbehaving peer would.
		n := *c
		n.Ops = slices.Clone(c.Ops)
		n.Ops[1].PayloadDigest, n.Ops[1].PayloadLen = n.Ops[1].payloadDigest()
		n.Ops[1].Erased, n.Ops[1].Payload = true, nil
		raw := encodeCommit(bytes.Clone(c.headerRaw), c.Sig[:], n.Ops)
		if _, err := Decode(raw); err == nil || !strings.Contains(err.Error(), "cannot be erased") {
			t.Errorf("a commit with an erased %s op: %v", o.Kind, err)
		}
	}
}

// TestBlobOpRules: a blob op is small, and a commit has no more of them
// than sealed ops.
func TestBlobOpRules(t *testing.T) {
	hdr := Header{Space: testSpace.Space(), Author: testDevice.Author(), Seq: 1, Time: HLC{Wall: 1}}
	sealed := Op{Kind: KindSealed, Payload: []byte("ciphertext")}
	ref := Op{Kind: KindBlob, Payload: bytes.Repeat([]byte{1}, MaxBlobOp)}
	if _, err := Build(hdr, []Op{sealed, ref}, testDevice); err != nil {
		t.Fatalf("a sealed op and its blob op: %v", err)
	}
	for name, ops := range map[string][]Op{
		"alone":       {ref},
		"two for one": {sealed, ref, ref},
		"too large":   {sealed, {Kind: KindBlob, Payload: bytes.Repeat([]byte{1}, MaxBlobOp+1)}},
		"with a key":  {sealed, {Kind: KindBlob, Key: []byte("k"), Payload: []byte{1}}},
	} {
		if _, err := Build(hdr, ops, testDevice); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	h := Header{Space: testSpace.Space(), Author: testDevice.Author(), Seq: 1, Time: HLC{Wall: 1}}
	big := make([]byte, MaxValueSize+1)
	cases := []struct {
		name string
		h    Header
		ops  []Op
	}{
		{"no ops", h, nil},
		{"empty key", h, []Op{Put(nil, []byte("v"))}},
		{"value too large", h, []Op{Put([]byte("k"), big)}},
		{"seq 0", Header{Space: h.Space, Author: h.Author, Time: h.Time}, []Op{Put([]byte("k"), nil)}},
		{"seq 2 without prev", Header{Space: h.Space, Author: h.Author, Seq: 2, Time: h.Time}, []Op{Put([]byte("k"), nil)}},
		{"wrong author", Header{Space: h.Space, Author: testSpace.Author(), Seq: 1, Time: h.Time}, []Op{Put([]byte("k"), nil)}},
		{"control op with key", h, []Op{{Kind: KindGrant, Key: []byte("k")}}},
	}
	for _, tc := range cases {
		if _, err := Build(tc.h, tc.ops, testDevice); err == nil {
			t.Errorf("%s: Build succeeded", tc.name)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	c := build(t, 1, keys.CommitID{}, Put([]byte("k"), []byte("v")))
	cases := map[string][]byte{
		"empty":     nil,
		"trailing":  append(bytes.Clone(c.Bytes()), 0),
		"truncated": c.Bytes()[:len(c.Bytes())-1],
		"not a map": {0x80},
		"too large": make([]byte, MaxCommitSize+1),
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestWrongSignerRejected(t *testing.T) {
	other := keys.DeviceKeyFromSeed(seed(3))
	c, err := Build(Header{Space: testSpace.Space(), Author: other.Author(), Seq: 1, Time: HLC{Wall: 5}}, []Op{Put([]byte("k"), nil)}, other)
	if err != nil {
		t.Fatal(err)
	}
	// Splice the other author's signature onto our author's header.
	c2 := build(t, 1, keys.CommitID{}, Put([]byte("k"), nil))
	forged := encodeCommit(c2.HeaderBytes(), c.Sig[:], c2.Ops)
	if _, err := Verify(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged signature: err = %v, want ErrBadSignature", err)
	}
}

func TestFork(t *testing.T) {
	a := build(t, 1, keys.CommitID{}, Put([]byte("k"), []byte("a")))
	b := build(t, 1, keys.CommitID{}, Put([]byte("k"), []byte("b")))
	f, err := NewFork(a, b)
	if err != nil {
		t.Fatal(err)
	}
	g, err := DecodeFork(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if g.A.ID != f.A.ID || g.B.ID != f.B.ID {
		t.Fatal("fork evidence round trip changed it")
	}
	if _, err := NewFork(a, a); !errors.Is(err, ErrNotFork) {
		t.Fatalf("same commit twice: %v", err)
	}
	c := build(t, 2, a.ID, Put([]byte("k"), []byte("c")))
	if _, err := NewFork(a, c); !errors.Is(err, ErrNotFork) {
		t.Fatalf("different seqs: %v", err)
	}
}

func TestControlOps(t *testing.T) {
	g := Grant{Subject: testDevice.Author(), Role: RoleWrite, Prefix: []byte("chat/"), Expires: 99, Uses: 1}
	got, err := DecodeGrant(GrantOp(g))
	if err != nil || got.Subject != g.Subject || got.Role != g.Role || string(got.Prefix) != "chat/" || got.Expires != 99 || got.Uses != 1 {
		t.Fatalf("grant round trip: %+v %v", got, err)
	}
	r, err := DecodeRevoke(RevokeOp(Revoke{Author: testDevice.Author(), LastSeq: 7}))
	if err != nil || r.LastSeq != 7 {
		t.Fatalf("revoke round trip: %+v %v", r, err)
	}
	rot, err := DecodeRotate(RotateOp(Rotate{Epoch: 2, Keys: []SealedKey{{Reader: testDevice.Author(), Sealed: []byte{1, 2}}}}))
	if err != nil || rot.Epoch != 2 || len(rot.Keys) != 1 {
		t.Fatalf("rotate round trip: %+v %v", rot, err)
	}
	s, err := DecodeSchema(SchemaOp(Schema{App: "chat", Version: 1}))
	if err != nil || s.App != "chat" {
		t.Fatalf("schema round trip: %+v %v", s, err)
	}
	if _, err := DecodeGrant(Op{Kind: KindGrant, Payload: []byte{0xa1, 0x18, 0x63, 0x01}}); err == nil {
		t.Fatal("grant with unknown field accepted")
	}
}

func TestClockMonotonic(t *testing.T) {
	c := NewClock()
	prev := c.Now()
	c.Observe(HLC{Wall: prev.Wall + 1_000_000_000, Logical: 5})
	next := c.Now()
	if !prev.Less(next) || next.Wall != prev.Wall+1_000_000_000 || next.Logical != 6 {
		t.Fatalf("clock did not move past observed time: %v then %v", prev, next)
	}
	for range 1000 {
		n := c.Now()
		if !next.Less(n) {
			t.Fatalf("clock went backwards: %v then %v", next, n)
		}
		next = n
	}
}

func TestNonCanonicalRejected(t *testing.T) {
	c := build(t, 1, keys.CommitID{}, Del([]byte("k")))
	type loose struct {
		Kind    uint64 `cbor:"1,keyasint"`
		Key     []byte `cbor:"2,keyasint"`
		Payload []byte `cbor:"3,keyasint"` // explicit empty payload: 03 40
	}
	type env struct {
		Header []byte  `cbor:"1,keyasint"`
		Sig    []byte  `cbor:"2,keyasint"`
		Ops    []loose `cbor:"3,keyasint"`
	}
	b, err := cbor.Marshal(env{Header: c.HeaderBytes(), Sig: c.Sig[:], Ops: []loose{{Kind: uint64(KindDel), Key: []byte("k"), Payload: []byte{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b, c.Bytes()) {
		t.Fatal("test encoding is canonical; it must differ")
	}
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-canonical encoding of a valid commit: err = %v, want ErrMalformed", err)
	}
}

func TestBuildKeepsRoomToErase(t *testing.T) {
	big := make([]byte, MaxValueSize)
	var ops []Op
	for i := range 64 {
		ops = append(ops, Put([]byte{byte(i + 1)}, big))
	}
	if _, err := Build(Header{Space: testSpace.Space(), Author: testDevice.Author(), Seq: 1, Time: HLC{Wall: 1}}, ops, testDevice); err == nil {
		t.Fatal("Build made a commit over the size limit")
	}
}

func TestDecodeHeader(t *testing.T) {
	c := build(t, 2, keys.CommitID{7}, Put([]byte("k"), bytes.Repeat([]byte("v"), 300)))
	h, id, err := DecodeHeader(c.Bytes())
	if err != nil || id != c.ID || h.Seq != 2 || h.Time != c.Time || h.Prev != c.Prev {
		t.Fatalf("DecodeHeader = %+v %s %v", h, id, err)
	}
	for _, b := range [][]byte{nil, {0xa3}, {0xa3, 0x01, 0x59, 0xff}, c.Bytes()[:10]} {
		if _, _, err := DecodeHeader(b); err == nil {
			t.Fatalf("DecodeHeader(%x) succeeded", b)
		}
	}
}

func TestVerifySigsNamesTheBadOne(t *testing.T) {
	var cs []*Commit
	prev := keys.CommitID{}
	for i := range 20 {
		c := build(t, uint64(i+1), prev, Put([]byte("k"), []byte{byte(i)}))
		cs = append(cs, c)
		prev = c.ID
	}
	if err := VerifySigs(cs); err != nil {
		t.Fatalf("valid batch: %v", err)
	}
	bad := *cs[13]
	bad.Sig[5] ^= 1
	cs[13] = &bad
	err := VerifySigs(cs)
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "seq 14") {
		t.Fatalf("batch with a bad signature: %v, want ErrBadSignature naming seq 14", err)
	}
}

// TestDecodeRejectsNullInHeader: a header with a null where a number
// goes (the time's logical part here, as the fuzzer found) is malformed,
// not the same header under another ID (failed before: decoded as 0).
func TestDecodeRejectsNullInHeader(t *testing.T) {
	k := keys.DeviceKeyFromSeed([32]byte{1})
	c, err := Build(Header{Space: keys.SpaceID{1}, Author: k.Author(), Seq: 1, Time: HLC{Wall: 5}}, []Op{Put([]byte("k"), []byte("v"))}, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, simple := range []byte{0xf6, 0xf7} { // null, undefined
		b := bytes.Clone(c.Bytes())
		i := bytes.Index(b, []byte{0x05, 0x82, 0x05, 0x00}) // time: [5, 0]
		if i < 0 {
			t.Fatal("no time [5, 0] in the header")
		}
		b[i+3] = simple
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode with %#x as the logical time: %v, want ErrMalformed", simple, err)
		}
		if _, _, err := DecodeHeader(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeHeader with %#x as the logical time: %v, want ErrMalformed", simple, err)
		}
	}
}
