package store

// RawKeys returns every key in s's database, for tests that check what a
// space leaves behind.
func RawKeys(s *Store) ([][]byte, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out [][]byte
	for it.First(); it.Valid(); it.Next() {
		out = append(out, append([]byte(nil), it.Key()...))
	}
	return out, it.Error()
}
