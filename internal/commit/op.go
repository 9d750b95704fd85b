package commit

import (
	"encoding/binary"
	"fmt"

	"github.com/loamdb/loam/internal/keys"
)

// Kind is the type of an op.
type Kind uint8

// Op kinds. Data ops name a key; control ops carry a CBOR body in the payload.
const (
	KindPut     Kind = 1  // put(key, value): payload is the value
	KindDel     Kind = 2  // del(key): empty payload, writes a tombstone
	KindPutBlob Kind = 3  // put(key, blobref): payload is an encoded blob reference
	KindGrant   Kind = 16 // grant a role: payload is a Grant
	KindRevoke  Kind = 17 // revoke an author from a seq on: payload is a Revoke
	KindRotate  Kind = 18 // rotate the read key: payload is a Rotate
	KindSchema  Kind = 19 // declare an app schema: payload is a Schema
	// KindCert carries a person's device certificate into the space: its
	// payload is the certificate as package identity encodes it.
	KindCert Kind = 20
	// KindDevRevoke carries an identity's device revocation into the space,
	// with where the device is cut here: payload is a DevRevoke.
	KindDevRevoke Kind = 21
	// KindRevokePerson revokes a person (every device certified by an
	// identity): payload is a RevokePerson.
	KindRevokePerson Kind = 22
	KindSealed       Kind = 32 // private space: payload is the AEAD ciphertext of an op
	// KindBlob names, in the clear, a sealed blob that a sealed putblob of
	// a private space references: its payload is the blob's reference
	// (blob.Ref: the sealed bytes' ID and size, no epoch), so that seeders,
	// which cannot open the putblob, keep and serve the blob.
	KindBlob Kind = 33
)

// kindNames names the kinds, for String.
var kindNames = map[Kind]string{
	KindPut:          "put",
	KindDel:          "del",
	KindPutBlob:      "putblob",
	KindGrant:        "grant",
	KindRevoke:       "revoke",
	KindRotate:       "rotate",
	KindSchema:       "schema",
	KindCert:         "cert",
	KindDevRevoke:    "devrevoke",
	KindRevokePerson: "revokeperson",
	KindErase:        "erase",
	KindRetention:    "retention",
	KindCheckpoint:   "checkpoint",
	KindVerdict:      "verdict",
	KindSealed:       "sealed",
	KindBlob:         "blob",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IsData reports whether k writes a key of the view.
func (k Kind) IsData() bool { return k == KindPut || k == KindDel || k == KindPutBlob }

// MaxBlobOp bounds a blob op's payload: an encoded blob reference with an
// ID and a size is at most 46 bytes.
const MaxBlobOp = 64

// Erasable reports whether an op of kind k may have its payload erased
// (format §6): not a control op nor a blob op. Authorization is a function
// of the commits' bytes (package acl), so a peer that forwarded a grant,
// revocation or rotation with its payload erased would make the replicas
// that received that copy decide differently; a blob op is what seeders
// keep a private space's blobs by.
func (k Kind) Erasable() bool { return !k.IsControl() && k != KindBlob }

// IsControl reports whether k is an access-control, schema, erase,
// retention, checkpoint or verdict op:
// its payload is a CBOR body in the clear (in private spaces too), never
// erased, and it has no key.
func (k Kind) IsControl() bool { return k >= KindGrant && k <= KindVerdict }

// Op is one operation in a commit.
//
// A payload may be erased: then Erased is true, Payload is nil, and
// PayloadDigest and PayloadLen keep what the signature covers.
type Op struct {
	Kind    Kind
	Key     []byte
	Payload []byte

	Erased        bool
	PayloadDigest keys.Digest // valid when Erased
	PayloadLen    int         // valid when Erased
}

// Put returns a put op.
func Put(key, value []byte) Op { return Op{Kind: KindPut, Key: key, Payload: value} }

// Del returns a delete op.
func Del(key []byte) Op { return Op{Kind: KindDel, Key: key} }

// payloadDigest returns the digest and length of the op's payload.
func (o *Op) payloadDigest() (keys.Digest, int) {
	if o.Erased {
		return o.PayloadDigest, o.PayloadLen
	}
	return keys.PayloadHash.Sum1(o.Payload), len(o.Payload)
}

// Digest returns the op digest covered by the commit's ops root:
// BLAKE3-keyed("loam/op/v1", uvarint(kind) ‖ uvarint(len key) ‖ key ‖
// uvarint(len payload) ‖ payload digest).
func (o *Op) Digest() keys.Digest {
	return keys.OpHash.Sum1(o.appendDigestInput(nil))
}

// appendDigestInput appends what Digest hashes to buf.
func (o *Op) appendDigestInput(buf []byte) []byte {
	pd, plen := o.payloadDigest()
	buf = binary.AppendUvarint(buf, uint64(o.Kind))
	buf = binary.AppendUvarint(buf, uint64(len(o.Key)))
	buf = append(buf, o.Key...)
	buf = binary.AppendUvarint(buf, uint64(plen))
	return append(buf, pd[:]...)
}

// validate checks the op's limits and the rules of its kind.
func (o *Op) validate() error {
	if o.Kind == 0 {
		return fmt.Errorf("op kind 0 is not valid")
	}
	if len(o.Key) > MaxKeySize {
		return fmt.Errorf("%s key is %d bytes, the limit is %d", o.Kind, len(o.Key), MaxKeySize)
	}
	plen := len(o.Payload)
	if o.Erased {
		plen = o.PayloadLen
	}
	if o.Kind == KindBlob && plen > MaxBlobOp {
		return fmt.Errorf("blob op payload is %d bytes, the limit is %d (a blob reference: ID and size)", plen, MaxBlobOp)
	}
	if plen > MaxValueSize && o.Kind != KindSealed && o.Kind != KindRotate && o.Kind != KindCheckpoint {
		return fmt.Errorf("%s payload is %d bytes, the inline limit is %d (store larger values as blobs)", o.Kind, plen, MaxValueSize)
	}
	switch {
	case o.Kind.IsData():
		if len(o.Key) == 0 {
			return fmt.Errorf("%s op has an empty key", o.Kind)
		}
		if o.Kind == KindDel && plen != 0 {
			return fmt.Errorf("del op carries a %d-byte payload, want none", plen)
		}
	case o.Kind.IsControl() || o.Kind == KindSealed || o.Kind == KindBlob:
		if len(o.Key) != 0 {
			return fmt.Errorf("%s op has a key, want none", o.Kind)
		}
	}
	return nil
}

// opsRoot returns BLAKE3-keyed("loam/ops/v1", uvarint(n) ‖ d1 ‖ … ‖ dn)
// and the op digests d1…dn, concatenated.
func opsRoot(ops []Op) (keys.Digest, []byte) {
	buf := make([]byte, 0, binary.MaxVarintLen64+len(ops)*keys.Size)
	buf = binary.AppendUvarint(buf, uint64(len(ops)))
	start := len(buf)
	// One buffer for every op's digest input, sized so that it does not
	// grow unless a key is long.
	scratch := make([]byte, 0, 128)
	for i := range ops {
		scratch = ops[i].appendDigestInput(scratch[:0])
		d := keys.OpHash.Sum1(scratch)
		buf = append(buf, d[:]...)
	}
	return keys.OpsRootHash.Sum1(buf), buf[start:]
}
