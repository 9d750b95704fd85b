package commit_test

import (
	"bytes"
	"crypto/ed25519"
	"reflect"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
)

// The golden blocks of docs/format/commit.md: the example commits (also
// testdata/golden), every control op's payload, a sealed op's plaintext
// and fork evidence, built from the fixed keys of golden_test.go. Each is
// checked against a literal here and against the document's ```hex block
// of the same ID, so neither the encoders nor the document can change
// unnoticed. A change is a new format version (§12), never a fix.

const commitDoc = "../../docs/format/commit.md"

// goldenInviteKey is the invite key of the invite example (seed 04…) and
// goldenJoiner the device that uses it (seed 03…).
var (
	goldenInviteKey = keys.DeviceKeyFromSeed(fill(0x04))
	goldenJoiner    = keys.DeviceKeyFromSeed(fill(0x03))
)

// goldenOps are the control-op examples of §7, with their payloads.
func goldenOps() []struct {
	id   string
	op   commit.Op
	kind commit.Kind
	want string
} {
	dev := goldenDeviceKey.Author()
	return []struct {
		id   string
		op   commit.Op
		kind commit.Kind
		want string
	}{
		{"op.grant", commit.GrantOp(commit.Grant{Subject: dev, Role: commit.RoleWrite, Prefix: []byte("chat/"), Expires: 1_800_000_000_000_000, Uses: 1}),
			commit.KindGrant, "a5 01 5820 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394 02 02 03 45 636861742f 04 1b0006651728988000 05 01"},
		{"op.grant-invite", commit.GrantOp(commit.InviteGrant(goldenSpaceKey.Space(), goldenJoiner.Author(), commit.RoleWrite, goldenInviteKey)),
			commit.KindGrant, goldenInviteGrant},
		{"op.revoke", commit.RevokeOp(commit.Revoke{Author: dev, LastSeq: 41}),
			commit.KindRevoke, "a2 01 5820 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394 02 1829"},
		{"op.rotate", commit.RotateOp(commit.Rotate{Epoch: 3, Keys: []commit.SealedKey{{Reader: dev, Sealed: []byte("sealed")}}}),
			commit.KindRotate, "a2 01 03 02 81 a2 01 5820 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394 02 46 7365616c6564"},
		{"op.schema", commit.SchemaOp(commit.Schema{App: "chat", Version: 2, Body: []byte("{}")}),
			commit.KindSchema, "a3 01 64 63686174 02 02 03 42 7b7d"},
		{"op.grant-person", commit.GrantOp(commit.PersonGrant(goldenIdentity, commit.RoleWrite)),
			commit.KindGrant, "a3 01 5820 0ae27999d5388cdef5ffcaa6c2d3397f4a47d0055cc5e83e3774acc4199e9c12 02 02 08 f5"},
		{"op.grant-invite-person", commit.GrantOp(commit.InvitePersonGrant(goldenSpaceKey.Space(), goldenIdentity, commit.RoleWrite, goldenInviteKey)),
			commit.KindGrant, goldenInvitePersonGrant},
		{"op.devrevoke", commit.DevRevokeOp(commit.DevRevoke{Revocation: golden.Hex(goldenRevocation), LastSeq: 7}),
			commit.KindDevRevoke, "a2 01 5894" + goldenRevocation + " 02 07"},
		{"op.revokeperson", commit.RevokePersonOp(commit.RevokePerson{Identity: goldenIdentity, Cuts: []commit.Revoke{{Author: dev, LastSeq: 41}}}),
			commit.KindRevokePerson, "a2 01 5820 0ae27999d5388cdef5ffcaa6c2d3397f4a47d0055cc5e83e3774acc4199e9c12 02 81 a2 01 5820 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394 02 1829"},
		{"op.checkpoint", mustOp(commit.CheckpointOp(goldenCheckpoint())), commit.KindCheckpoint, goldenCheckpointPayload},
		{"op.verdict", mustOp(commit.VerdictOp(commit.Verdict{Checkpoint: fill(0x77), OK: true})),
			commit.KindVerdict, "a2 01 5820 7777777777777777777777777777777777777777777777777777777777777777 02 f5"},
		{"op.verdict-dispute", mustOp(commit.VerdictOp(commit.Verdict{Checkpoint: fill(0x77), Field: commit.CheckpointCells})),
			commit.KindVerdict, "a3 01 5820 7777777777777777777777777777777777777777777777777777777777777777 02 f4 03 03"},
	}
}

// goldenCheckpoint is the checkpoint example of §7: one author's frontier
// head, and digests of repeated bytes.
func goldenCheckpoint() commit.Checkpoint {
	return commit.Checkpoint{
		Frontier: []commit.FrontierHead{{Author: goldenDeviceKey.Author(), Seq: 7, ID: fill(0x11), Time: commit.HLC{Wall: 1_700_000_000_000_001, Logical: 2}}},
		View:     fill(0x22),
		Visible:  3,
		Cells:    fill(0x33),
		Kept:     fill(0x44),
		Causal:   fill(0x55),
		ACL:      fill(0x66),
		Stats:    commit.CheckpointStats{Commits: 10, Bytes: 4530, Kept: 4, Cells: 3},
	}
}

const goldenCheckpointPayload = `
a7 01 81 85 5820 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394
            07 5820 1111111111111111111111111111111111111111111111111111111111111111
            1b00060a24181e4001 02
   02 82 5820 2222222222222222222222222222222222222222222222222222222222222222 03
   03 5820 3333333333333333333333333333333333333333333333333333333333333333
   04 5820 4444444444444444444444444444444444444444444444444444444444444444
   05 5820 5555555555555555555555555555555555555555555555555555555555555555
   06 5820 6666666666666666666666666666666666666666666666666666666666666666
   07 84 0a 1911b2 04 03`

// must turns an encoder that may fail into one that panics.
func must[T any](enc func(T) (commit.Op, error)) func(T) commit.Op {
	return func(v T) commit.Op { return mustOp(enc(v)) }
}

// goldenIdentity is the identity of docs/format/identity.md §2 (the phrase
// of entropy 00 × 32), and goldenRevocation that document's example
// revocation (identity.revocation), carried here as opaque bytes: package
// identity decodes them.
var goldenIdentity = keys.IdentityID(golden.Hex("0ae27999d5388cdef5ffcaa6c2d3397f4a47d0055cc5e83e3774acc4199e9c12"))

const goldenRevocation = `
a4 01 5820 0ae27999d5388cdef5ffcaa6c2d3397f4a47d0055cc5e83e3774acc4199e9c12
   02 5820 6b79c57e6a095239282c04818e96112f3f03a4001ba97a564c23852a3f1ea5fc
   03 1b00066517ff2c2400
   04 5840 5b39fd669c754a159278392f8ed2d3b6582c2cc3b5d8856b984b7aed80101291
           b3980fbad002facc81cddd4c05b4174f329e994a8087ff8efc006a2c6ebfc60d`

const goldenInvitePersonGrant = `
a5 01 5820 0ae27999d5388cdef5ffcaa6c2d3397f4a47d0055cc5e83e3774acc4199e9c12 02 02
06 5820 ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c
07 5840 30e7bcc92cd5fb9a3cd56c31ed7c505c2cb9186acab2dbd7606b6efd4722359a
        45f75d08741bd696b60e160d752f09506ca565534489d4d01425403f7f078a07
08 f5`

const goldenInviteGrant = `
a4 01 5820 ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1 02 02
06 5820 ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c
07 5840 3f94a745b7d1bcaf725c284dd070f9563f1ef8a5608cd943cafe4302d85b3579
        fbf6d35ed6b5a5c854396e4d021e9053b0e4484cdc2790e507caa9778242090b`

// TestGoldenControlOps pins the payload of every control-op kind, and
// checks that each decodes back to what built it.
func TestGoldenControlOps(t *testing.T) {
	doc := golden.Load(t, commitDoc, "op")
	for _, c := range goldenOps() {
		if c.op.Kind != c.kind {
			t.Errorf("%s: kind %d, want %d", c.id, c.op.Kind, c.kind)
		}
		if !bytes.Equal(c.op.Payload, golden.Hex(c.want)) {
			t.Errorf("%s: encoding changed; now:\n%s", c.id, golden.Dump(c.op.Payload))
		}
		doc.Check(t, c.id, c.op.Payload)
		var again commit.Op
		switch c.kind {
		case commit.KindGrant:
			var g commit.Grant
			g, again = decodeAgain(t, c.id, c.op, commit.DecodeGrant, commit.GrantOp)
			if (c.id == "op.grant-invite" || c.id == "op.grant-invite-person") && !g.VerifyInvite(goldenSpaceKey.Space()) {
				t.Errorf("%s: the invite's signature does not verify", c.id)
			}
		case commit.KindRevoke:
			_, again = decodeAgain(t, c.id, c.op, commit.DecodeRevoke, commit.RevokeOp)
		case commit.KindRotate:
			_, again = decodeAgain(t, c.id, c.op, commit.DecodeRotate, commit.RotateOp)
		case commit.KindSchema:
			_, again = decodeAgain(t, c.id, c.op, commit.DecodeSchema, commit.SchemaOp)
		case commit.KindDevRevoke:
			_, again = decodeAgain(t, c.id, c.op, commit.DecodeDevRevoke, commit.DevRevokeOp)
		case commit.KindRevokePerson:
			_, again = decodeAgain(t, c.id, c.op, commit.DecodeRevokePerson, commit.RevokePersonOp)
		case commit.KindCheckpoint:
			k, op := decodeAgain(t, c.id, c.op, commit.DecodeCheckpoint, must(commit.CheckpointOp))
			if !reflect.DeepEqual(k, goldenCheckpoint()) {
				t.Errorf("%s decodes to %+v", c.id, k)
			}
			again = op
		case commit.KindVerdict:
			_, again = decodeAgain(t, c.id, c.op, commit.DecodeVerdict, must(commit.VerdictOp))
		}
		if !bytes.Equal(again.Payload, c.op.Payload) {
			t.Errorf("%s: decoded and encoded again as %x", c.id, again.Payload)
		}
	}

	// The invite's delegation: what the invite key signs, for a device
	// and for a person (the identity of §7 People); and a sealed op's
	// plaintext (§7 Sealed): put("k", "v").
	d := commit.InviteDigest(goldenSpaceKey.Space(), goldenJoiner.Author(), commit.RoleWrite)
	pd := commit.InvitePersonDigest(goldenSpaceKey.Space(), goldenIdentity, commit.RoleWrite)
	for _, c := range []struct {
		id, want string
		got      []byte
	}{
		{"op.invite-digest", "309a08e1d687e869efe1b4db2cf53a2bcbf23fcd49d7c06f5082ed4fac61909b", d[:]},
		{"op.invite-person-digest", "2f722eebbde031cc1d030580f8528c4daf4b40e4de46d6db31a65a92ff5f3ea0", pd[:]},
		{"op.sealed-plaintext", "01 01 6b 76", commit.EncodeSealedOp(commit.Put([]byte("k"), []byte("v")))},
	} {
		if !bytes.Equal(c.got, golden.Hex(c.want)) {
			t.Errorf("%s changed: %x", c.id, c.got)
		}
		doc.Check(t, c.id, c.got)
	}
}

// decodeAgain decodes o with decode, failing t if it cannot, and returns
// what it decoded and encode's op of it.
func decodeAgain[T any](t *testing.T, id string, o commit.Op, decode func(commit.Op) (T, error), encode func(T) commit.Op) (T, commit.Op) {
	t.Helper()
	v, err := decode(o)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return v, encode(v)
}

// TestGoldenCommitDoc checks the example commits of the document against
// the code (their literals are testdata/golden, checked by
// TestGoldenCommits), and the fork evidence of §9.
func TestGoldenCommitDoc(t *testing.T) {
	doc := golden.Load(t, commitDoc, "commit")
	gen, pd, er := goldenGenesis(t), goldenPutDel(t), goldenErased(t)
	doc.Check(t, "commit.genesis", gen.Bytes())
	doc.Check(t, "commit.put-del", pd.Bytes())
	doc.Check(t, "commit.put-del.fields", pd.Bytes())
	doc.Check(t, "commit.put-del.header", pd.Bytes()[4:4+227])
	doc.Check(t, "commit.put-del-erased", er.Bytes())
	doc.Check(t, "commit.put-del-erased.ops", er.Bytes()[0x12a:])
	if !bytes.Equal(pd.Bytes()[:0x12a], er.Bytes()[:0x12a]) {
		t.Error("erasure changed bytes before the ops")
	}

	fk := goldenFork(t)
	b := fk.Encode()
	if len(b) != 413 || fk.A.ID.String() != goldenForkA || fk.B.ID.String() != goldenForkB {
		t.Errorf("fork evidence of %d bytes, A %s, B %s: changed", len(b), fk.A.ID, fk.B.ID)
	}
	doc.Check(t, "commit.fork", b)
	back, err := commit.DecodeFork(b)
	if err != nil || back.A.ID != fk.A.ID || back.B.ID != fk.B.ID {
		t.Errorf("the golden evidence decodes to %v, %v", back, err)
	}
}

const (
	goldenForkA = "cmt_ewvm5j3rdic67qvcbhyzjx5zlw34j3xitrar46m6lwrys43g2xrq"
	goldenForkB = "cmt_t6p7vkgexadn4ap3l6te3j2aghf4iqpjjhcqwquvawhoop744ima"
)

// goldenFork is the evidence of §9: two seq-1 commits of the device that
// put "a" and "b" under "k" at the same time.
func goldenFork(t testing.TB) commit.Fork {
	t.Helper()
	h := commit.Header{
		Space:  goldenSpaceKey.Space(),
		Author: goldenDeviceKey.Author(),
		Seq:    1,
		Time:   commit.HLC{Wall: 1_700_000_000_000_001},
	}
	a := mustBuild(t, h, goldenDeviceKey, commit.Put([]byte("k"), []byte("a")))
	b := mustBuild(t, h, goldenDeviceKey, commit.Put([]byte("k"), []byte("b")))
	fk, err := commit.NewFork(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return fk
}

// TestGoldenDigests checks the digests of §5.2 against commit (b): the
// documented inputs hash to the code's op digests and ops root, and the
// documented signature message is what the signature signs.
func TestGoldenDigests(t *testing.T) {
	doc := golden.Load(t, commitDoc, "digest")
	c := goldenPutDel(t)
	for i, p := range [][]byte{[]byte("cordless"), nil} {
		n := string(rune('0' + i))
		pd := keys.PayloadHash.Sum1(p)
		doc.Check(t, "digest.op"+n+"-payload", pd[:])
		d := c.OpDigest(i)
		if op := c.Ops[i]; op.Digest() != d {
			t.Errorf("op %d: Digest %x, the commit's %x", i, op.Digest(), d)
		}
		doc.Check(t, "digest.op"+n, d[:])
		if in := doc.Bytes(t, "digest.op"+n+"-input"); keys.OpHash.Sum1(in) != d {
			t.Errorf("digest.op%s-input does not hash to the op digest %x", n, d)
		}
	}
	doc.Check(t, "digest.ops-root", c.OpsRoot[:])
	if in := doc.Bytes(t, "digest.ops-root-input"); keys.OpsRootHash.Sum1(in) != c.OpsRoot {
		t.Errorf("digest.ops-root-input does not hash to the ops root %x", c.OpsRoot)
	}
	if c.OpsRoot != keys.Digest(golden.Hex(goldenPutDelOpsRoot)) || c.ID.String() != goldenPutDelID {
		t.Errorf("ops root %x, ID %s: changed", c.OpsRoot, c.ID)
	}
	doc.Check(t, "digest.id", c.ID[:])
	doc.Check(t, "digest.sig", c.Sig[:])
	msg := doc.Bytes(t, "digest.sig-message")
	if !bytes.Equal(msg, append([]byte("loam/commit-sig/v1\x00"), c.ID[:]...)) ||
		!ed25519.Verify(ed25519.PublicKey(c.Author[:]), msg, c.Sig[:]) {
		t.Error("digest.sig-message is not what the commit's signature signs")
	}
}
