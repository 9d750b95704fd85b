package store_test

import (
	"math/rand/v2"

	"pgregory.net/rapid"

	"github.com/loamdb/loam/internal/store/storetest"
)

// drawSkewed draws a storetest.GenSkewed history.
func drawSkewed(rt *rapid.T) (*storetest.History, *rand.Rand) {
	s := rapid.Uint64().Draw(rt, "seed")
	r := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	return storetest.GenSkewed(r), r
}
