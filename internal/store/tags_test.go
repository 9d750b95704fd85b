package store

import "testing"

// TestSpaceTagsDistinct: every table of a space has its own tag (two
// helpers once took 0x24 for two tables on separate branches).
func TestSpaceTagsDistinct(t *testing.T) {
	seen := map[byte]int{}
	for i, tag := range spaceTags {
		if j, ok := seen[tag]; ok {
			t.Fatalf("spaceTags[%d] and [%d] are both tag %#x", j, i, tag)
		}
		seen[tag] = i
	}
}
