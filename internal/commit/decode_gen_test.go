package commit

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

var genHeaders = flag.Int("gen.headers", 3000, "TestDecodeAgreesGenerated: headers to generate")

// TestDecodeAgreesGenerated complements FuzzDecodeAgrees with headers
// drawn from a grammar of the forms the open header decoder meets (heads
// of every width, keys of every kind, ids as arrays, integers as simple
// values, nested unknown values, and now and then a null, a tag or a
// duplicate), each as the header of agreeCommit's envelope, so that
// Decode reaches the ops too when the fields match. A failure prints the
// seed; replay it with -gen.seed.
func TestDecodeAgreesGenerated(t *testing.T) {
	seed := *genSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (replay with -gen.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	c := agreeCommit(t)
	raw := c.Bytes()
	tail := raw[bytes.Index(raw, c.HeaderBytes())+len(c.HeaderBytes())+3+keys.SigSize:]
	g := headerGen{rng: rng, c: c}
	headers, commits := 0, 0
	for range *genHeaders {
		b := envelope(g.header(), c.Sig[:], tail)
		checkAgrees(t, b)
		if _, _, err := DecodeHeader(b); err == nil {
			headers++
		}
		if _, err := Decode(b); err == nil {
			commits++
		}
	}
	t.Logf("of %d: %d headers and %d commits accepted", *genHeaders, headers, commits)
}

var genSeed = flag.Uint64("gen.seed", 0, "TestDecodeAgreesGenerated: the seed (0: a random one)")

// headerGen draws headers near agreeCommit's.
type headerGen struct {
	rng *rand.Rand
	c   *Commit
}

// head appends a head of major type m and argument n, mostly the
// shortest, sometimes wider.
func (g *headerGen) head(b []byte, m byte, n uint64) []byte {
	if g.rng.IntN(4) > 0 {
		return appendHead(b, m, n)
	}
	switch w := g.rng.IntN(4); {
	case w == 0 && n <= 0xff:
		return append(b, m|24, byte(n))
	case w == 1 && n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case w == 2 && n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// uint appends n as an unsigned integer or, if small, a simple value.
func (g *headerGen) uint(b []byte, n uint64) []byte {
	switch {
	case n < 20 && g.rng.IntN(6) == 0:
		return append(b, majorSimple|byte(n))
	case n >= 32 && n <= 0xff && g.rng.IntN(6) == 0:
		return append(b, majorSimple|24, byte(n))
	}
	return g.head(b, majorUint, n)
}

// id appends a 32-byte field as a byte string or an array.
func (g *headerGen) id(b []byte, id []byte) []byte {
	if g.rng.IntN(5) > 0 {
		return append(g.head(b, majorBytes, uint64(len(id))), id...)
	}
	b = g.head(b, majorArray, uint64(len(id)))
	for _, x := range id {
		b = g.uint(b, uint64(x))
	}
	return b
}

// item appends an arbitrary item at nesting depth d.
func (g *headerGen) item(b []byte, d int) []byte {
	switch g.rng.IntN(14) {
	case 0:
		return g.uint(b, g.rng.Uint64N(1000))
	case 1:
		return g.head(b, majorNint, g.rng.Uint64N(1000))
	case 2:
		n := g.rng.IntN(4)
		return append(g.head(b, majorBytes, uint64(n)), bytes.Repeat([]byte{0xab}, n)...)
	case 3:
		s := []string{"", "a", "é", "\xff", "\xc3"}[g.rng.IntN(5)]
		return append(g.head(b, majorText, uint64(len(s))), s...)
	case 4, 5:
		if d >= 9 {
			return append(b, 0x00)
		}
		n := g.rng.IntN(3)
		b = g.head(b, majorArray, uint64(n))
		for range n {
			b = g.item(b, d+1)
		}
		return b
	case 6:
		if d >= 9 {
			return append(b, 0x00)
		}
		n := g.rng.IntN(3)
		b = g.head(b, majorMap, uint64(n))
		for range 2 * n {
			b = g.item(b, d+1)
		}
		return b
	case 7:
		return append(b, []byte{0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xf8, 0xe0, 0xf3, 0xc1, 0x9f, 0xff, 0x1c}[g.rng.IntN(14)])
	case 8:
		return append(b, 0xf9, 0x7e, 0x00) // NaN
	case 9:
		return append(b, 0xf8, byte(g.rng.IntN(256)))
	}
	return g.uint(b, uint64(g.rng.IntN(30)))
}

// header draws a header: agreeCommit's fields, shuffled, some left out,
// changed or written oddly, with unknown keys among them.
func (g *headerGen) header() []byte {
	c := g.c
	type pair struct{ k, v []byte }
	var pairs []pair
	key := func(k uint64) []byte { return g.head(nil, majorUint, k) }
	fields := []pair{
		{key(1), g.id(nil, c.Space[:])},
		{key(2), g.id(nil, c.Author[:])},
		{key(3), g.uint(nil, c.Seq)},
		{key(4), g.id(nil, c.Prev[:])},
		{key(5), g.uint(g.uint(g.head(nil, majorArray, 2), c.Time.Wall), uint64(c.Time.Logical))},
		{key(6), g.uint(nil, c.Epoch)},
		{key(7), g.id(g.id(g.head(nil, majorArray, 2), c.Deps[0][:]), c.Deps[1][:])},
		{key(8), g.id(nil, c.OpsRoot[:])},
		{key(9), g.uint(nil, uint64(c.NumOps))},
	}
	for _, f := range fields {
		switch g.rng.IntN(30) {
		case 0: // left out
		case 1: // another value
			pairs = append(pairs, pair{f.k, g.item(nil, 1)})
		case 2: // twice
			pairs = append(pairs, f, pair{f.k, g.item(nil, 1)})
		default:
			pairs = append(pairs, f)
		}
	}
	for range g.rng.IntN(4) {
		var k []byte
		switch g.rng.IntN(6) {
		case 0, 1:
			k = g.head(nil, majorUint, []uint64{0, 10, 11, 1 << 40, 1 << 63}[g.rng.IntN(5)])
		case 2:
			k = g.head(nil, majorNint, []uint64{0, 5, 1 << 63}[g.rng.IntN(3)])
		case 3, 4:
			s := []string{"x", "y", "1", "\xff"}[g.rng.IntN(4)]
			k = append(g.head(nil, majorText, uint64(len(s))), s...)
		default:
			k = g.item(nil, 1)
		}
		pairs = append(pairs, pair{k, g.item(nil, 1)})
	}
	g.rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	b := g.head(nil, majorMap, uint64(len(pairs)))
	for _, p := range pairs {
		b = append(append(b, p.k...), p.v...)
	}
	return b
}
