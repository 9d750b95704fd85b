package keys

import (
	"crypto/rand"
	"crypto/sha512"
	"hash"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// BatchVerifier checks many signatures at once: faster than one by one
// from a few, about three times from a few hundred by as many keys, about
// four times by a few dozen (Pippenger's method; BenchmarkVerify). It is
// not safe for concurrent use.
//
// It checks the batch equation of ZIP-215 (as curve25519-voi's batch
// verifier does, so Verify and a batch always agree):
//
//	[8]([-Σ z_i s_i]B + Σ [z_i]R_i + Σ [z_i k_i]A_i) = 0
//
// with z_i random 128-bit scalars, but the terms of one key are summed
// before the multiplication: Σ_{i: A_i = A} [z_i k_i]A = [Σ z_i k_i]A. The
// equation is the same group element, so it accepts and rejects the same
// batches; its multiplication has a term per signature (R_i, 128-bit
// scalars) and one per key (full-size scalars) instead of two per
// signature. A space's commits come from the few members writing at the
// time, so a frame's hundreds of signatures have a few dozen keys
// (docs/benchmarks.md, "A batch per key and writes in key order").
type BatchVerifier struct {
	sigs []batchSig
	keys map[[Size]byte]int
	as   []*curve.EdwardsPoint // the keys' points, by index
	h    hash.Hash
	bad  bool
}

// batchSig is one queued signature: R decompressed, s, k = H(R, A, M)
// and the index of its key.
type batchSig struct {
	r    curve.EdwardsPoint
	s, k scalar.Scalar
	key  int
}

// NewBatchVerifier returns a verifier with room for n signatures.
func NewBatchVerifier(n int) *BatchVerifier {
	return &BatchVerifier{sigs: make([]batchSig, 0, n), keys: map[[Size]byte]int{}, h: sha512.New()}
}

// Add queues one signature; a signature of the wrong size fails the batch.
func (b *BatchVerifier) Add(pub [Size]byte, ctx string, d Digest, sig []byte) {
	b.add(pub[:], message(ctx, d), sig)
}

// add queues sig, pub's signature of msg. Whatever ZIP-215 rejects before
// the equation (a key or R that is not a point, s not below the group's
// order, wrong sizes) fails the batch.
func (b *BatchVerifier) add(pub, msg, sig []byte) {
	if b.bad {
		return
	}
	if len(sig) != SigSize || len(pub) != Size || !scalar.ScMinimalVartime(sig[32:]) {
		b.bad = true
		return
	}
	ki, ok := b.keys[[Size]byte(pub)]
	if !ok {
		k := expanded(pub)
		if k == nil {
			b.bad = true
			return
		}
		ki = len(b.as)
		b.keys[[Size]byte(pub)] = ki
		b.as = append(b.as, &k.point)
	}
	b.sigs = append(b.sigs, batchSig{key: ki})
	e := &b.sigs[len(b.sigs)-1]
	var rc curve.CompressedEdwardsY
	if _, err := rc.SetBytes(sig[:32]); err != nil {
		b.bad = true
		return
	}
	if _, err := e.r.SetCompressedY(&rc); err != nil {
		b.bad = true
		return
	}
	if _, err := e.s.SetBytesModOrder(sig[32:]); err != nil {
		b.bad = true
		return
	}
	var digest [sha512.Size]byte
	b.h.Reset()
	b.h.Write(sig[:32])
	b.h.Write(pub)
	b.h.Write(msg)
	if _, err := e.k.SetBytesModOrderWide(b.h.Sum(digest[:0])); err != nil {
		b.bad = true
	}
}

// Verify reports whether every queued signature is valid (true for none).
// If not, check them one by one with Verify to find which. The batch's
// random coefficients come from crypto/rand.
func (b *BatchVerifier) Verify() bool {
	if b.bad {
		return false
	}
	n, d := len(b.sigs), len(b.as)
	if n == 0 {
		return true
	}
	// Terms: B, then each R_i, then each key.
	vals := make([]scalar.Scalar, 1+n+d)
	scalars := make([]*scalar.Scalar, len(vals))
	points := make([]*curve.EdwardsPoint, len(vals))
	for i := range vals {
		scalars[i] = &vals[i]
	}
	points[0] = curve.ED25519_BASEPOINT_POINT
	for j, a := range b.as {
		points[1+n+j] = a
	}
	zs := make([]byte, 16*n)
	rand.Read(zs) // never fails (crypto/rand)
	bc := &vals[0]
	var zb [32]byte
	var t scalar.Scalar
	for i := range b.sigs {
		e := &b.sigs[i]
		z := &vals[1+i]
		copy(zb[:16], zs[16*i:])
		if _, err := z.SetBytesModOrder(zb[:]); err != nil {
			return false
		}
		points[1+i] = &e.r
		bc.Add(bc, t.Mul(z, &e.s))
		ac := &vals[1+n+e.key]
		ac.Add(ac, t.Mul(z, &e.k))
	}
	bc.Neg(bc)
	var sum curve.EdwardsPoint
	return sum.MultiscalarMulVartime(scalars, points).IsSmallOrder()
}
