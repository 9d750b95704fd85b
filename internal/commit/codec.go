package commit

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// encMode is canonical CBOR (RFC 8949 Core Deterministic Encoding).
var encMode = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// strictDecOptions reject duplicate keys, indefinite lengths and tags, and
// bound nesting and collection sizes.
func strictDecOptions() cbor.DecOptions {
	return cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  MaxOps,
		MaxMapPairs:       64,
		IntDec:            cbor.IntDecConvertNone,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}
}

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	dm, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}

var (
	// closedDec rejects unknown map keys: for maps whose every field is signed
	// through a digest computed from known fields only.
	closedDec = func() cbor.DecMode {
		o := strictDecOptions()
		o.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
		return mustDecMode(o)
	}()
	// openDec keeps unknown keys legal: for the header, which is hashed as
	// received, so unknown fields are signed too.
	openDec = mustDecMode(strictDecOptions())
)

func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Only reachable with a type the encoder cannot handle: a programming error.
		panic(fmt.Sprintf("commit: encode %T: %v", v, err))
	}
	return b
}
