package commit

import (
	"fmt"

	"github.com/loamdb/loam/internal/keys"
)

// encMode is canonical CBOR (RFC 8949 Core Deterministic Encoding).
var encMode = keys.CanonicalCBOR

// closedDec rejects unknown map keys: for maps whose every field is signed
// through a digest computed from known fields only (control op bodies,
// fork evidence). Commits themselves are read by hand (decode.go).
var closedDec = keys.StrictCBOR(keys.CBORLimits{Nesting: 8, ArrayElems: MaxOps, MapPairs: 64, Closed: true})

func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Only reachable with a type the encoder cannot handle: a programming error.
		panic(fmt.Sprintf("commit: encode %T: %v", v, err))
	}
	return b
}
