package store

import (
	"context"

	"github.com/loamdb/loam/internal/keys"
)

// SetFullRedecide makes s decide a whole space again on every revocation,
// never from the cut (redecide.go): the reference the fast path is
// compared with. Set it before the first request.
func SetFullRedecide(s *Store, full bool) { s.fullRedecide = full }

// FromCut returns how many re-decisions s made from the cut.
func FromCut(s *Store) int64 { return s.fromCut.Load() }

// DecisionTables are the tables a re-decision writes: cells, the
// superseded-writes indexes, invalid rows, cuts, revoking commits.
var DecisionTables = map[string]byte{
	"cell": tagCell, "history": tagHistory, "dead": tagDead,
	"invalid": tagInvalid, "cut": tagCut, "revoking": tagRevoking,
}

// Rows returns the rows of table tag for space sp, key → value.
func Rows(s *Store, tag byte, sp keys.SpaceID) (map[string]string, error) {
	out := map[string]string{}
	var e err0
	for k, v := range s.scan(context.Background(), spaceKey(tag, sp), false, &e) {
		out[string(k)] = string(v)
	}
	return out, e.err
}

// SetPieceBytes makes s's rebuilds commit their view in pieces of about
// n bytes (rebuild.go, pieceFull); 0 restores the default. Set it before
// the first request.
func SetPieceBytes(s *Store, n int) { s.pieceBytes = n }
