package keys

import (
	"sync"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// expandedKeys holds the decompressed points of the public keys verified
// lately. Decompressing a key is a square root in the field, about a
// fifth of a batched verification's cost per signature, and a space's
// commits come from a few hundred or thousand authors again and again.
//
// It holds at most expandedMax keys (about 400 bytes each: voi's expanded
// form for verifying alone and the point a batch sums on); when full it
// starts again empty, so a peer sending commits of many fresh authors
// costs what every key cost before the cache: one decompression each.
var expandedKeys = struct {
	sync.Mutex
	m map[[Size]byte]*expandedKey
}{m: map[[Size]byte]*expandedKey{}}

// expandedKey is a key's expanded form, for verifying alone, and its
// point, for a batch (BatchVerifier). Neither changes once made.
type expandedKey struct {
	e     *voi.ExpandedPublicKey
	point curve.EdwardsPoint
}

const expandedMax = 4096

// expanded returns pub's expanded form, or nil when pub is not a point
// (the plain path rejects it as before).
func expanded(pub []byte) *expandedKey {
	k := [Size]byte(pub)
	expandedKeys.Lock()
	e, ok := expandedKeys.m[k]
	expandedKeys.Unlock()
	if ok {
		return e
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil
	}
	e = &expandedKey{e: x}
	var c curve.CompressedEdwardsY
	if _, err := c.SetBytes(pub); err != nil {
		return nil
	}
	if _, err := e.point.SetCompressedY(&c); err != nil {
		return nil
	}
	expandedKeys.Lock()
	if len(expandedKeys.m) >= expandedMax {
		clear(expandedKeys.m)
	}
	expandedKeys.m[k] = e
	expandedKeys.Unlock()
	return e
}
