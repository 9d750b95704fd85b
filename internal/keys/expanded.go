package keys

import (
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// expandedKeys holds the decompressed points of the public keys verified
// lately. Decompressing a key is a square root in the field, about a
// fifth of a batched verification's cost per signature, and a space's
// commits come from a few hundred or thousand authors again and again.
//
// It holds at most expandedMax keys (about 200 bytes each); when full it
// starts again empty, so a peer sending commits of many fresh authors
// costs what every key cost before the cache: one decompression each.
var expandedKeys = struct {
	sync.Mutex
	m map[[Size]byte]*voi.ExpandedPublicKey
}{m: map[[Size]byte]*voi.ExpandedPublicKey{}}

const expandedMax = 4096

// expanded returns pub's expanded form, or nil when pub is not a point
// (the plain path rejects it as before).
func expanded(pub []byte) *voi.ExpandedPublicKey {
	k := [Size]byte(pub)
	expandedKeys.Lock()
	e, ok := expandedKeys.m[k]
	expandedKeys.Unlock()
	if ok {
		return e
	}
	e, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
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
