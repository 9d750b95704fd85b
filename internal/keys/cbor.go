package keys

import "github.com/fxamacker/cbor/v2"

// CanonicalCBOR encodes every structure Loam signs, stores or sends:
// RFC 8949 Core Deterministic Encoding, so one value has one encoding.
var CanonicalCBOR = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// CBORLimits bound what a strict decoder accepts.
type CBORLimits struct {
	Nesting    int  // maximum nesting depth (at least 4)
	ArrayElems int  // maximum elements of one array (at least 16)
	MapPairs   int  // maximum pairs of one map (at least 16)
	Closed     bool // reject map keys the target struct does not name
	// NoNull rejects null and undefined, which the decoder would
	// otherwise take as a field's zero value: for a format that never
	// encodes them, so one value has one encoding.
	NoNull bool
}

// StrictCBOR returns the decoder every package uses for untrusted bytes:
// duplicate map keys, indefinite lengths and tags are rejected, text must
// be valid UTF-8, and nesting and sizes are bounded by l.
func StrictCBOR(l CBORLimits) cbor.DecMode {
	o := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   l.Nesting,
		MaxArrayElements:  l.ArrayElems,
		MaxMapPairs:       l.MapPairs,
		IntDec:            cbor.IntDecConvertNone,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}
	if l.Closed {
		o.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
	}
	if l.NoNull {
		r, err := cbor.NewSimpleValueRegistryFromDefaults(cbor.WithRejectedSimpleValue(22), cbor.WithRejectedSimpleValue(23))
		if err != nil {
			panic(err)
		}
		o.SimpleValues = r
	}
	dm, err := o.DecMode()
	if err != nil {
		panic(err) // limits out of the library's range: a programming error
	}
	return dm
}
