package commit_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/golden"
	"github.com/loamdb/loam/internal/keys"
)

// Fuzz targets for every decoder of untrusted bytes. Run one with, e.g.:
//
//	go test -run='^$' -fuzz=FuzzDecodeCommit -fuzztime=20s ./internal/commit
//
// The committed corpus is in testdata/fuzz/<target>/.

// fuzzCommits returns valid encoded commits to seed the fuzzers with.
func fuzzCommits(f *testing.F) [][]byte {
	a, b, e := goldenGenesis(f), goldenPutDel(f), goldenErased(f)
	// A commit with one op of every kind and an epoch, and it with an op
	// erased.
	all, err := commit.Build(commit.Header{
		Space:  goldenSpaceKey.Space(),
		Author: goldenDeviceKey.Author(),
		Seq:    3,
		Prev:   b.ID,
		Time:   commit.HLC{Wall: 1_700_000_000_200_000, Logical: 1},
		Epoch:  2,
		Deps:   []keys.CommitID{a.ID},
	}, []commit.Op{
		commit.Put([]byte("k"), []byte("v")),
		commit.Del([]byte("k")),
		{Kind: commit.KindPutBlob, Key: []byte("b"), Payload: []byte{0xa1, 0x01, 0x41, 0x00}},
		commit.GrantOp(commit.Grant{Subject: goldenDeviceKey.Author(), Role: commit.RoleWrite, Prefix: []byte("chat/"), Expires: 99, Uses: 3}),
		commit.RevokeOp(commit.Revoke{Author: goldenDeviceKey.Author(), LastSeq: 7}),
		commit.RotateOp(commit.Rotate{Epoch: 2, Keys: []commit.SealedKey{{Reader: goldenDeviceKey.Author(), Sealed: []byte{1, 2, 3}}}}),
		commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte("{}")}),
		{Kind: commit.KindSealed, Payload: []byte("ciphertext")},
		{Kind: commit.KindBlob, Payload: []byte{0xa1, 0x01, 0x41, 0x00}},
		{Kind: 200, Key: []byte("future"), Payload: []byte("op kind")},
	}, goldenDeviceKey)
	if err != nil {
		f.Fatal(err)
	}
	allErased, err := all.Erase(0)
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{a.Bytes(), b.Bytes(), e.Bytes(), all.Bytes(), allErased.Bytes()}
}

func FuzzDecodeCommit(f *testing.F) {
	for _, b := range fuzzCommits(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := commit.Decode(data)
		v, verr := commit.Verify(data)
		if err != nil {
			if !errors.Is(err, commit.ErrMalformed) {
				t.Fatalf("Decode error %v is not ErrMalformed", err)
			}
			if verr == nil {
				t.Fatal("Verify accepted what Decode rejected")
			}
			return
		}
		_ = c.String()
		sigErr := c.VerifySig()
		if (sigErr == nil) != (verr == nil) {
			t.Fatalf("VerifySig: %v, but Verify: %v", sigErr, verr)
		}
		if verr != nil && !errors.Is(verr, commit.ErrBadSignature) {
			t.Fatalf("Verify of a decodable commit: %v, want ErrBadSignature", verr)
		}
		if v != nil && v.ID != c.ID {
			t.Fatal("Verify and Decode disagree on the ID")
		}
		if c.NumOps != len(c.Ops) || len(c.Ops) == 0 {
			t.Fatalf("header says %d ops, commit has %d", c.NumOps, len(c.Ops))
		}
		if got := keys.CommitID(keys.CommitHeaderHash.Sum(c.HeaderBytes())); got != c.ID {
			t.Fatal("ID is not the hash of the header bytes")
		}

		// Re-decoding the commit's own bytes gives the same commit.
		c2, err := commit.Decode(c.Bytes())
		if err != nil {
			t.Fatalf("re-decoding Bytes(): %v", err)
		}
		if c2.ID != c.ID || !bytes.Equal(c2.HeaderBytes(), c.HeaderBytes()) {
			t.Fatal("re-decoding Bytes() changed the ID or header")
		}

		// Erasing op 0 keeps the ID, the header and the signature's
		// validity; control and blob ops cannot be erased.
		e, err := c.Erase(0)
		if !c.Ops[0].Kind.Erasable() {
			if err == nil {
				t.Fatalf("Erase(0) of a %s op succeeded", c.Ops[0].Kind)
			}
			return
		}
		if err != nil {
			t.Fatalf("Erase(0): %v", err)
		}
		e2, err := commit.Decode(e.Bytes())
		if err != nil {
			t.Fatalf("erased commit does not decode: %v", err)
		}
		if e2.ID != c.ID || !bytes.Equal(e2.HeaderBytes(), c.HeaderBytes()) || e2.Sig != c.Sig {
			t.Fatal("erasure changed the ID, header or signature")
		}
		if (e2.VerifySig() == nil) != (sigErr == nil) {
			t.Fatal("erasure changed whether the signature verifies")
		}
		if !e2.Ops[0].Erased || e2.Ops[0].Payload != nil || e2.Ops[0].Digest() != c.Ops[0].Digest() {
			t.Fatalf("erased op 0 is %+v", e2.Ops[0])
		}
		for i := 1; i < len(c.Ops); i++ {
			if e2.Ops[i].Digest() != c.Ops[i].Digest() {
				t.Fatalf("erasing op 0 changed op %d", i)
			}
		}
		// Erasure is idempotent.
		ee, err := e2.Erase(0)
		if err != nil || !bytes.Equal(ee.Bytes(), e.Bytes()) {
			t.Fatalf("erasing op 0 twice: %v", err)
		}
	})
}

// fuzzFork returns the golden fork evidence and it in the wrong order.
func fuzzFork(f *testing.F) (commit.Fork, []byte) {
	fk := goldenFork(f)
	// The same evidence in the wrong order: a 2-array of byte strings.
	swapped := encodePair(fk.B.Bytes(), fk.A.Bytes())
	return fk, swapped
}

// encodePair encodes a CBOR array of two byte strings (each under 64 KiB).
func encodePair(a, b []byte) []byte {
	out := []byte{0x82}
	for _, x := range [][]byte{a, b} {
		out = append(out, 0x59, byte(len(x)>>8), byte(len(x)))
		out = append(out, x...)
	}
	return out
}

func FuzzDecodeFork(f *testing.F) {
	fk, swapped := fuzzFork(f)
	f.Add(fk.Encode())
	f.Add(swapped)
	commits := fuzzCommits(f)
	f.Add(encodePair(commits[0], commits[1]))
	f.Add(encodePair(commits[1], commits[2])) // a commit and its erased self
	f.Add([]byte{0x82, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		fk, err := commit.DecodeFork(data)
		if err != nil {
			return
		}
		a, b := fk.A, fk.B
		if bytes.Compare(a.ID[:], b.ID[:]) >= 0 {
			t.Fatal("fork evidence not ordered by ID")
		}
		if a.Space != b.Space || a.Author != b.Author || a.Seq != b.Seq {
			t.Fatal("fork evidence of different space, author or seq")
		}
		if a.VerifySig() != nil || b.VerifySig() != nil {
			t.Fatal("fork evidence with a bad signature")
		}
		g, err := commit.DecodeFork(fk.Encode())
		if err != nil {
			t.Fatalf("re-decoding Encode(): %v", err)
		}
		if g.A.ID != a.ID || g.B.ID != b.ID {
			t.Fatal("re-decoding Encode() changed the evidence")
		}
	})
}

func FuzzDecodeControl(f *testing.F) {
	subject := goldenDeviceKey.Author()
	for _, op := range []commit.Op{
		commit.GrantOp(commit.Grant{Subject: subject, Role: commit.RoleAdmin}),
		commit.GrantOp(commit.Grant{Subject: subject, Role: commit.RoleRead, Prefix: []byte("chat/"), Expires: 1_700_000_000_000_000, Uses: 5}),
		commit.RevokeOp(commit.Revoke{Author: subject, LastSeq: 41}),
		commit.RotateOp(commit.Rotate{Epoch: 3, Keys: []commit.SealedKey{{Reader: subject, Sealed: []byte("sealed-read-key")}}}),
		commit.RotateOp(commit.Rotate{Epoch: 1}),
		commit.GrantOp(commit.PersonGrant(goldenIdentity, commit.RoleWrite)),
		commit.GrantOp(commit.InviteGrant(goldenSpaceKey.Space(), goldenJoiner.Author(), commit.RoleWrite, goldenInviteKey)),
		commit.GrantOp(commit.InvitePersonGrant(goldenSpaceKey.Space(), goldenIdentity, commit.RoleWrite, goldenInviteKey)),
		commit.DevRevokeOp(commit.DevRevoke{Revocation: golden.Hex(goldenRevocation), LastSeq: 7}),
		commit.RevokePersonOp(commit.RevokePerson{Identity: goldenIdentity, Cuts: []commit.Revoke{{Author: subject, LastSeq: 41}, {Author: goldenJoiner.Author()}}}),
		commit.RevokePersonOp(commit.RevokePerson{Identity: goldenIdentity}),
		commit.SchemaOp(commit.Schema{App: "chat", Version: 2, Body: []byte(`{"rooms":"chat/{room}/{ts}"}`)}),
		mustOp(commit.RetentionOp(commit.Retention{Mode: commit.LiveOnly})),
		mustOp(commit.RetentionOp(commit.Retention{Mode: commit.RetainFor, After: 30 * 24 * time.Hour})),
		mustEraseOp(commit.Erase{Targets: []commit.EraseTarget{{Author: subject, Seq: 3, ID: keys.CommitID{1}, Op: 0, Key: []byte("chat/general/1")}, {Author: subject, Seq: 4, ID: keys.CommitID{2}, Op: 1}}}),
		mustOp(commit.CheckpointOp(goldenCheckpoint())),
		mustOp(commit.CheckpointOp(commit.Checkpoint{Frontier: []commit.FrontierHead{{Author: keys.AuthorID{1}, Seq: 1}, {Author: subject, Seq: 1 << 40, Time: commit.HLC{Wall: 1 << 60, Logical: 1<<32 - 1}}}})),
		mustOp(commit.VerdictOp(commit.Verdict{Checkpoint: keys.CommitID{9}, OK: true})),
		mustOp(commit.VerdictOp(commit.Verdict{Checkpoint: keys.CommitID{9}, Field: commit.CheckpointStatsField})),
	} {
		f.Add(byte(op.Kind), false, op.Payload)
		f.Add(byte(op.Kind), true, op.Payload)
	}
	f.Add(byte(commit.KindGrant), false, []byte{0xa1, 0x18, 0x63, 0x01}) // unknown field 99
	f.Fuzz(func(t *testing.T, kind byte, erased bool, payload []byte) {
		op := commit.Op{Kind: commit.Kind(kind), Payload: payload}
		if erased {
			op.Erased, op.Payload = true, nil
			op.PayloadDigest, op.PayloadLen = keys.PayloadHash.Sum(payload), len(payload)
		}
		wantKind := func(k commit.Kind, err error) {
			t.Helper()
			if err == nil && (op.Kind != k || op.Erased) {
				t.Fatalf("decoded a %s payload from a %s op (erased %v)", k, op.Kind, op.Erased)
			}
		}

		g, err := commit.DecodeGrant(op)
		wantKind(commit.KindGrant, err)
		if err == nil {
			g2, err := commit.DecodeGrant(commit.GrantOp(g))
			if err != nil || g2.Subject != g.Subject || g2.Role != g.Role || !bytes.Equal(g2.Prefix, g.Prefix) ||
				g2.Expires != g.Expires || g2.Uses != g.Uses || g2.Person != g.Person || g2.Invite != g.Invite || !bytes.Equal(g2.InviteSig, g.InviteSig) {
				t.Fatalf("grant round trip: %+v -> %+v, %v", g, g2, err)
			}
			if g.Role < commit.RoleRead || g.Role > commit.RoleSeed || len(g.Prefix) > commit.MaxKeySize || (g.Person && g.Uses != 0) {
				t.Fatalf("invalid grant accepted: %+v", g)
			}
		}

		r, err := commit.DecodeRevoke(op)
		wantKind(commit.KindRevoke, err)
		if err == nil {
			r2, err := commit.DecodeRevoke(commit.RevokeOp(r))
			if err != nil || r2 != r {
				t.Fatalf("revoke round trip: %+v -> %+v, %v", r, r2, err)
			}
		}

		rot, err := commit.DecodeRotate(op)
		wantKind(commit.KindRotate, err)
		if err == nil {
			rot2, err := commit.DecodeRotate(commit.RotateOp(rot))
			if err != nil || rot2.Epoch != rot.Epoch || len(rot2.Keys) != len(rot.Keys) {
				t.Fatalf("rotate round trip: %+v -> %+v, %v", rot, rot2, err)
			}
			for i := range rot.Keys {
				if rot2.Keys[i].Reader != rot.Keys[i].Reader || !bytes.Equal(rot2.Keys[i].Sealed, rot.Keys[i].Sealed) {
					t.Fatalf("rotate round trip changed key %d", i)
				}
			}
		}

		dr, err := commit.DecodeDevRevoke(op)
		wantKind(commit.KindDevRevoke, err)
		if err == nil {
			dr2, err := commit.DecodeDevRevoke(commit.DevRevokeOp(dr))
			if err != nil || dr2.LastSeq != dr.LastSeq || !bytes.Equal(dr2.Revocation, dr.Revocation) || len(dr.Revocation) > commit.MaxDevRevocation {
				t.Fatalf("devrevoke round trip: %+v -> %+v, %v", dr, dr2, err)
			}
		}

		rp, err := commit.DecodeRevokePerson(op)
		wantKind(commit.KindRevokePerson, err)
		if err == nil {
			again := commit.RevokePersonOp(rp)
			if !bytes.Equal(again.Payload, op.Payload) || len(rp.Cuts) > commit.MaxPersonCuts {
				t.Fatalf("revokeperson round trip: %+v -> %x", rp, again.Payload)
			}
		}

		e, err := commit.DecodeErase(op)
		wantKind(commit.KindErase, err)
		if err == nil {
			again, err := commit.EraseOp(e)
			if err != nil || !bytes.Equal(again.Payload, op.Payload) || len(e.Targets) > commit.MaxEraseTargets {
				t.Fatalf("erase round trip: %+v -> %x, %v", e, again.Payload, err)
			}
		}

		ret, err := commit.DecodeRetention(op)
		wantKind(commit.KindRetention, err)
		if err == nil {
			again, err := commit.RetentionOp(ret)
			if err != nil || !bytes.Equal(again.Payload, op.Payload) {
				t.Fatalf("retention round trip: %+v -> %x, %v", ret, again.Payload, err)
			}
		}

		ck, err := commit.DecodeCheckpoint(op)
		wantKind(commit.KindCheckpoint, err)
		if err == nil {
			again, err := commit.CheckpointOp(ck)
			if err != nil || !bytes.Equal(again.Payload, op.Payload) || ck.Validate() != nil {
				t.Fatalf("checkpoint round trip: %+v -> %x, %v", ck, again.Payload, err)
			}
		}

		vd, err := commit.DecodeVerdict(op)
		wantKind(commit.KindVerdict, err)
		if err == nil {
			again, err := commit.VerdictOp(vd)
			if err != nil || !bytes.Equal(again.Payload, op.Payload) || vd.OK != (vd.Field == 0) {
				t.Fatalf("verdict round trip: %+v -> %x, %v", vd, again.Payload, err)
			}
		}

		s, err := commit.DecodeSchema(op)
		wantKind(commit.KindSchema, err)
		if err == nil {
			s2, err := commit.DecodeSchema(commit.SchemaOp(s))
			if err != nil || s2.App != s.App || s2.Version != s.Version || !bytes.Equal(s2.Body, s.Body) {
				t.Fatalf("schema round trip: %+v -> %+v, %v", s, s2, err)
			}
		}
	})
}

// FuzzDecodeSealedOp checks that an accepted sealed-op plaintext is a valid
// data op and re-encodes to the same bytes.
//
//	go test -run='^$' -fuzz=FuzzDecodeSealedOp -fuzztime=20s ./internal/commit
func FuzzDecodeSealedOp(f *testing.F) {
	f.Add(commit.EncodeSealedOp(commit.Put([]byte("tools/drill"), []byte("cordless"))))
	f.Add(commit.EncodeSealedOp(commit.Del([]byte("k"))))
	f.Add([]byte{0x80, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := commit.DecodeSealedOp(b)
		if err != nil {
			return
		}
		if err := commit.ValidateOps([]commit.Op{o}); err != nil {
			t.Fatalf("accepted %x: %v", b, err)
		}
		if got := commit.EncodeSealedOp(o); string(got) != string(b) {
			t.Fatalf("accepted %x but it re-encodes as %x", b, got)
		}
	})
}

func TestSealedOpRoundTrip(t *testing.T) {
	for _, o := range []commit.Op{commit.Put([]byte("a"), []byte("v")), commit.Del([]byte("b")), commit.Put([]byte("c"), nil)} {
		got, err := commit.DecodeSealedOp(commit.EncodeSealedOp(o))
		if err != nil || got.Kind != o.Kind || string(got.Key) != string(o.Key) || string(got.Payload) != string(o.Payload) {
			t.Fatalf("%v: got %v, %v", o, got, err)
		}
	}
	for _, b := range [][]byte{nil, {1}, {1, 5, 'a'}, {16, 0}, {2, 1, 'k', 'x'}, {1, 0, 'v'}, {0x81, 0x00, 1, 'k'}} {
		if _, err := commit.DecodeSealedOp(b); !errors.Is(err, commit.ErrBadSealedOp) {
			t.Errorf("commit.DecodeSealedOp(%x) = %v, want commit.ErrBadSealedOp", b, err)
		}
	}
}

func mustEraseOp(e commit.Erase) commit.Op {
	o, err := commit.EraseOp(e)
	if err != nil {
		panic(err)
	}
	return o
}

func mustOp(o commit.Op, err error) commit.Op {
	if err != nil {
		panic(err)
	}
	return o
}
