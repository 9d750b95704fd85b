package store_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/store/storetest"
)

// TestGenACLExercisesAppRules guards the generator for app rules (#15):
// over a few seeds, schema declarations must count and writes must break
// them, or the property tests (TestPropertyAuthorization and the others
// over GenACL: incremental apply in any order, reopening, partitions,
// against acl.Evaluate) prove nothing about them.
func TestGenACLExercisesAppRules(t *testing.T) {
	var schemas, broken, versions, once int
	for s := range uint64(20) {
		h := storetest.GenACL(rand.New(rand.NewPCG(s, s)), storetest.Gen{Authors: 4, Ops: 200, Keys: 10, MaxBatch: 3})
		d := acl.Evaluate(h.Space(), h.Commits, nil)
		schemas += len(d.Schemas)
		seen := map[uint64]bool{}
		for _, sc := range d.Schemas {
			seen[sc.Version] = true
		}
		versions += len(seen)
		for _, why := range d.Invalid {
			if errors.Is(why, acl.ErrSchema) {
				broken++
				if strings.Contains(why.Error(), "written once") {
					once++
				}
			}
		}
	}
	t.Logf("schema declarations that count %d (%d distinct versions per space, summed), commits breaking app rules %d (a write-once rule %d)", schemas, versions, broken, once)
	if schemas == 0 || broken == 0 || versions <= 20 || once == 0 {
		t.Fatal("the generator does not exercise app rules")
	}
}
