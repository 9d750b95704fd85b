package commit

import (
	"fmt"

	"github.com/loamdb/loam/internal/keys"
)

// encMode is canonical CBOR (RFC 8949 Core Deterministic Encoding).
var encMode = keys.CanonicalCBOR

var (
	// closedDec rejects unknown map keys: for maps whose every field is signed
	// through a digest computed from known fields only.
	closedDec = keys.StrictCBOR(keys.CBORLimits{Nesting: 8, ArrayElems: MaxOps, MapPairs: 64, Closed: true})
	// openDec keeps unknown keys legal: for the header, which is hashed as
	// received, so unknown fields are signed too. It rejects null and
	// undefined: the decoder took a null as 0 (the fuzzer found one as
	// the time's logical part), a second encoding of the same header
	// under another ID.
	openDec = keys.StrictCBOR(keys.CBORLimits{Nesting: 8, ArrayElems: MaxOps, MapPairs: 64, NoNull: true})
)

func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Only reachable with a type the encoder cannot handle: a programming error.
		panic(fmt.Sprintf("commit: encode %T: %v", v, err))
	}
	return b
}
