package snapshot

// ErasedAsNamed is erasedAsNamed, for the property tests.
var ErasedAsNamed = erasedAsNamed
