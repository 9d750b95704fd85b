package store

import "github.com/loamdb/loam/internal/keys"

// DropRevokingMarker removes sp's marker that its revoking commits are
// all listed, as a space stored before those rows lacks it. Readers see it
// once the store is opened again.
func DropRevokingMarker(s *Store, sp keys.SpaceID) error {
	return s.db.Delete(markKey(sp, markRevoking), nil)
}
