package commit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

// FuzzDecodeAgrees holds the hand-written decoder to the fxamacker-based
// one it replaced (oracle_test.go): on every input, Decode and
// DecodeHeader accept exactly what the oracle accepts and return the same
// Commit (ID, header, deps, ops, digests, raw slices) or header and ID.
// The input is also read as a header inside an envelope, so that the
// fuzzer reaches the open header's rules without building a whole
// commit. Run it with:
//
//	go test -run='^$' -fuzz=FuzzDecodeAgrees -fuzztime=5m ./internal/commit
func FuzzDecodeAgrees(f *testing.F) {
	for _, b := range agreeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgrees(t, data)
		checkAgrees(t, envelope(data, make([]byte, keys.SigSize), []byte{0x03, 0x81, 0xa1, 0x01, 0x01}))
	})
}

// checkAgrees fails t if Decode, DecodeHeader or HeaderTime differ from
// the oracle on b.
func checkAgrees(t *testing.T, b []byte) {
	t.Helper()
	got, err := Decode(b)
	want, werr := oracleDecode(b)
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("Decode(%x): %v, the oracle: %v", b, err, werr)
	case err != nil && !errors.Is(err, ErrMalformed):
		t.Fatalf("Decode(%x): %v does not wrap ErrMalformed", b, err)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("Decode(%x):\n%+v\nthe oracle:\n%+v", b, got, want)
	}
	h, id, err := DecodeHeader(b)
	wh, wid, werr := oracleDecodeHeader(b)
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("DecodeHeader(%x): %v, the oracle: %v", b, err, werr)
	case err != nil && !errors.Is(err, ErrMalformed):
		t.Fatalf("DecodeHeader(%x): %v does not wrap ErrMalformed", b, err)
	case err == nil && (id != wid || !reflect.DeepEqual(h, wh)):
		t.Fatalf("DecodeHeader(%x): %s %+v, the oracle: %s %+v", b, id, h, wid, wh)
	}
	if werr == nil {
		if tm, err := HeaderTime(b); err != nil || tm != wh.Time {
			t.Fatalf("HeaderTime(%x): %v (%v), the oracle's header: %v", b, tm, err, wh.Time)
		}
	}
}

// envelope returns the commit envelope {1: header, 2: sig, then tail},
// where tail is key 3 and the ops as encoded.
func envelope(header, sig, tail []byte) []byte {
	b := []byte{0xa3, 0x01}
	b = appendHead(b, majorBytes, uint64(len(header)))
	b = append(b, header...)
	b = append(b, 0x02, 0x58, 0x40)
	b = append(b, sig...)
	return append(b, tail...)
}

// appendHead appends a head of major type m and argument n, the shortest.
func appendHead(b []byte, m byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// agreeSeeds returns the golden vectors, the committed corpora of the
// commit and header fuzzers, built commits, and the open header's forms.
func agreeSeeds(t testing.TB) [][]byte {
	t.Helper()
	var seeds [][]byte
	golden, _ := filepath.Glob("testdata/golden/*.hex")
	for _, p := range golden {
		s, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := hex.DecodeString(strings.Join(strings.Fields(string(s)), "")); err == nil {
			seeds = append(seeds, b)
		}
	}
	for _, dir := range []string{"FuzzDecodeCommit", "FuzzDecodeHeader"} {
		files, _ := filepath.Glob(filepath.Join("testdata/fuzz", dir, "*"))
		for _, p := range files {
			seeds = append(seeds, readCorpusFile(t, p)...)
		}
	}
	c := agreeCommit(t)
	seeds = append(seeds, c.Bytes(), c.HeaderBytes())
	if e, err := c.Erase(0); err == nil {
		seeds = append(seeds, e.Bytes())
	}
	for _, f := range headerForms(t) {
		seeds = append(seeds, f.commit)
	}
	return seeds
}

// readCorpusFile returns the []byte values of a "go test fuzz v1" file.
func readCorpusFile(t testing.TB, p string) [][]byte {
	t.Helper()
	s, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(s), "\n") {
		if q, ok := strings.CutPrefix(line, "[]byte("); ok {
			if v, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
				out = append(out, []byte(v))
			}
		}
	}
	return out
}

// agreeCommit builds a commit with every header field: seq 3, a prev,
// an epoch, two deps, and ops of several kinds.
func agreeCommit(t testing.TB) *Commit {
	t.Helper()
	c, err := Build(Header{
		Space: testSpace.Space(), Author: testDevice.Author(), Seq: 3, Prev: keys.CommitID{7},
		Time:  HLC{Wall: 1_700_000_000_000_000, Logical: 5},
		Epoch: 2, Deps: []keys.CommitID{{1}, {2}},
	}, []Op{
		Put([]byte("k"), []byte("v")),
		Del([]byte("gone")),
		{Kind: KindSealed, Payload: []byte("ciphertext")},
		{Kind: 200, Key: []byte("future"), Payload: []byte("op kind")},
	}, testDevice)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// headerForm is agreeCommit with its header written another way.
type headerForm struct {
	name   string
	commit []byte
	ok     bool // the decoders accept it
}

// headerForms returns agreeCommit with its header written in forms the
// open header decoder accepts (heads not the shortest, keys out of order,
// unknown keys, ids as arrays, integers as simple values) and some it
// refuses, each as a whole commit with the signature and ops of
// agreeCommit, so the ops root still matches.
func headerForms(t testing.TB) []headerForm {
	t.Helper()
	c := agreeCommit(t)
	tail := c.Bytes()[len(c.Bytes())-(len(c.Bytes())-bytes.Index(c.Bytes(), c.HeaderBytes())-len(c.HeaderBytes())-3-keys.SigSize):]
	bs := func(b []byte) []byte { return append(appendHead(nil, majorBytes, uint64(len(b))), b...) }
	u := func(n uint64) []byte { return appendHead(nil, majorUint, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	arr := func(items ...[]byte) []byte {
		return cat(appendHead(nil, majorArray, uint64(len(items))), cat(items...))
	}
	// The known fields, canonical, by key.
	known := [][]byte{
		1: cat(u(1), bs(c.Space[:])),
		2: cat(u(2), bs(c.Author[:])),
		3: cat(u(3), u(c.Seq)),
		4: cat(u(4), bs(c.Prev[:])),
		5: cat(u(5), arr(u(c.Time.Wall), u(uint64(c.Time.Logical)))),
		6: cat(u(6), u(c.Epoch)),
		7: cat(u(7), arr(bs(c.Deps[0][:]), bs(c.Deps[1][:]))),
		8: cat(u(8), bs(c.OpsRoot[:])),
		9: cat(u(9), u(uint64(c.NumOps))),
	}
	mapOf := func(pairs ...[]byte) []byte { return cat(appendHead(nil, majorMap, uint64(len(pairs))), cat(pairs...)) }
	with := func(replace map[int][]byte, extra ...[]byte) []byte {
		var pairs [][]byte
		for k := 1; k <= 9; k++ {
			if v, ok := replace[k]; ok {
				if v != nil {
					pairs = append(pairs, v)
				}
				continue
			}
			pairs = append(pairs, known[k])
		}
		return mapOf(append(pairs, extra...)...)
	}
	asArray := func(id []byte) []byte {
		items := make([][]byte, len(id))
		for i, x := range id {
			items[i] = u(uint64(x))
			if x < 20 && i%2 == 0 {
				items[i] = []byte{majorSimple | x} // simple(x), read as x
			}
		}
		return arr(items...)
	}
	nested := func(depth int) []byte { // depth arrays, innermost empty
		return cat(bytes.Repeat([]byte{0x81}, depth-1), []byte{0x80})
	}
	many := func(n int) [][]byte { // n unknown keys 100.. with value 0
		var out [][]byte
		for i := range n {
			out = append(out, cat(u(uint64(100+i)), u(0)))
		}
		return out
	}
	text := func(s string) []byte { return append(appendHead(nil, majorText, uint64(len(s))), s...) }
	reversed := func() []byte {
		var pairs [][]byte
		for k := 9; k >= 1; k-- {
			pairs = append(pairs, known[k])
		}
		return mapOf(pairs...)
	}
	forms := []struct {
		name   string
		header []byte
		ok     bool
	}{
		{"canonical", with(nil), true},
		{"keys reversed", reversed(), true},
		{"seq with an 8-byte head", with(map[int][]byte{3: cat(u(3), []byte{0x1b, 0, 0, 0, 0, 0, 0, 0, 3})}), true},
		{"key 3 with a 1-byte head", with(map[int][]byte{3: cat([]byte{0x18, 3}, u(c.Seq))}), true},
		{"map head 2 bytes", append([]byte{0xb8, 9}, with(nil)[1:]...), true},
		{"seq as simple(3)", with(map[int][]byte{3: cat(u(3), []byte{0xe3})}), true},
		{"epoch as simple(2)", with(map[int][]byte{6: cat(u(6), []byte{0xe2})}), true},
		{"space as an array", with(map[int][]byte{1: cat(u(1), asArray(c.Space[:]))}), true},
		{"dep as an array", with(map[int][]byte{7: cat(u(7), arr(asArray(c.Deps[0][:]), bs(c.Deps[1][:])))}), true},
		{"time as simple values", with(map[int][]byte{5: cat(u(5), arr(u(c.Time.Wall), []byte{0xe5}))}), true},
		{"epoch 0 written", with(map[int][]byte{6: cat(u(6), u(0))}), true},
		{"unknown keys", with(nil, cat(u(10), []byte{0xf5}), cat(text("x"), mapOf(cat(u(1), arr([]byte{0xf9, 0x7e, 0x00}, text("é"))))), cat([]byte{0x20}, bs([]byte{0}))), true},
		{"unknown value with bad UTF-8", with(nil, cat(u(10), []byte{0x61, 0xff})), true},
		{"unknown value simple(255)", with(nil, cat(u(10), []byte{0xf8, 0xff})), true},
		{"unknown value 7 deep", with(nil, cat(u(10), nested(7))), true},
		{"unknown value 8 deep", with(nil, cat(u(10), nested(8))), false},
		{"64 pairs", with(nil, many(55)...), true},
		{"65 pairs", with(nil, many(56)...), false},
		{"unknown key twice", with(nil, cat(u(10), u(0)), cat([]byte{0x18, 10}, u(0))), false},
		{"text key twice", with(nil, cat(text("x"), u(0)), cat(text("x"), u(1))), false},
		{"text key and int key", with(nil, cat(text("x"), u(0)), cat(u(10), u(1))), true},
		{"negative key twice", with(nil, cat([]byte{0x20}, u(0)), cat([]byte{0x38, 0}, u(1))), false},
		{"seq twice", with(nil, cat([]byte{0x18, 3}, u(c.Seq))), false},
		{"text key 1", with(nil, cat(text("1"), u(0))), true},
		{"text key bad UTF-8", with(nil, cat([]byte{0x61, 0xff}, u(0))), false},
		{"byte string key", with(nil, cat(bs([]byte{1}), u(0))), false},
		{"key over int64", with(nil, cat([]byte{0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0}, u(0))), false},
		{"null unknown", with(nil, cat(u(10), []byte{0xf6})), false},
		{"undefined in unknown", with(nil, cat(u(10), arr([]byte{0xf7}))), false},
		{"tag unknown", with(nil, cat(u(10), []byte{0xc1, 0x00})), false},
		{"indefinite unknown", with(nil, cat(u(10), []byte{0x9f, 0xff})), false},
		{"simple(24) 2-byte", with(nil, cat(u(10), []byte{0xf8, 0x10})), false},
		{"seq as false", with(map[int][]byte{3: cat(u(3), []byte{0xf4})}), false},
		{"seq as float", with(map[int][]byte{3: cat(u(3), []byte{0xf9, 0x3c, 0x00})}), false},
		{"space 31 bytes", with(map[int][]byte{1: cat(u(1), bs(c.Space[:31]))}), false},
		{"space as text", with(map[int][]byte{1: cat(u(1), text(string(c.Space[:])))}), false},
		{"prev missing at seq 3", with(map[int][]byte{4: nil}), false},
		{"deps empty array", with(map[int][]byte{7: cat(u(7), arr())}), true},
		{"time of 3", with(map[int][]byte{5: cat(u(5), arr(u(c.Time.Wall), u(5), u(0)))}), false},
		{"bytes after the map", append(with(nil), 0x00), false},
	}
	var out []headerForm
	for _, f := range forms {
		out = append(out, headerForm{f.name, envelope(f.header, c.Sig[:], tail), f.ok})
	}
	return out
}

// TestHeaderForms checks, on the open header's forms, that the decoder
// accepts what the oracle accepts, and that the forms test what they say.
func TestHeaderForms(t *testing.T) {
	for _, f := range headerForms(t) {
		t.Run(f.name, func(t *testing.T) {
			checkAgrees(t, f.commit)
			if _, _, err := DecodeHeader(f.commit); (err == nil) != f.ok {
				t.Errorf("DecodeHeader: %v, want ok %v", err, f.ok)
			}
		})
	}
}
