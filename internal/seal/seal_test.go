package seal_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
)

var (
	spaceA = keys.SpaceID{0xaa}
	spaceB = keys.SpaceID{0xbb}
	devA   = keys.DeviceKeyFromSeed([32]byte{0xa1})
	devB   = keys.DeviceKeyFromSeed([32]byte{0xb2})
)

func newKey(t testing.TB) seal.ReadKey {
	t.Helper()
	k, err := seal.NewReadKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.IsZero() {
		t.Fatal("zero read key")
	}
	return k
}

func mustDecrypt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, seal.ErrDecrypt) {
		t.Fatalf("%s: err = %v, want ErrDecrypt", what, err)
	}
}

func TestSizes(t *testing.T) {
	if seal.Overhead != 40 || seal.SealedKeySize != 104 {
		t.Fatalf("Overhead = %d, SealedKeySize = %d", seal.Overhead, seal.SealedKeySize)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	k := newKey(t)
	for _, n := range []int{0, 1, 31, 64 << 10, seal.MaxPayload} {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		ct, err := seal.SealPayload(k, spaceA, 7, pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != n+seal.Overhead {
			t.Fatalf("len = %d, want %d", len(ct), n+seal.Overhead)
		}
		got, err := seal.OpenPayload(k, spaceA, 7, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: open = %v", n, err)
		}
	}
	if _, err := seal.SealPayload(k, spaceA, 7, make([]byte, seal.MaxPayload+1)); !errors.Is(err, seal.ErrTooLarge) {
		t.Fatalf("oversized payload: err = %v", err)
	}
	mustDecrypt(t, "oversized ciphertext", func() error {
		_, err := seal.OpenPayload(k, spaceA, 7, make([]byte, seal.MaxPayload+seal.Overhead+1))
		return err
	}())
}

func TestChunkRoundTrip(t *testing.T) {
	k := newKey(t)
	for _, n := range []int{0, 1, 4096, seal.MaxChunk} {
		pt := bytes.Repeat([]byte{byte(n + 1)}, n)
		ct, err := seal.SealChunk(k, spaceA, 3, uint64(n), pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != n+seal.Overhead {
			t.Fatalf("len = %d, want %d", len(ct), n+seal.Overhead)
		}
		got, err := seal.OpenChunk(k, spaceA, 3, uint64(n), ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: open = %v", n, err)
		}
	}
	if _, err := seal.SealChunk(k, spaceA, 3, 0, make([]byte, seal.MaxChunk+1)); !errors.Is(err, seal.ErrTooLarge) {
		t.Fatalf("oversized chunk: err = %v", err)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	k := newKey(t)
	sealed, err := seal.SealKey(devA.Author(), k, spaceA, 9)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != seal.SealedKeySize {
		t.Fatalf("len = %d", len(sealed))
	}
	got, err := seal.OpenKey(devA, sealed, spaceA, 9)
	if err != nil || got != k {
		t.Fatalf("OpenKey = %v", err)
	}
	// Device B cannot open a key sealed to A.
	_, err = seal.OpenKey(devB, sealed, spaceA, 9)
	mustDecrypt(t, "other device", err)
	_, err = seal.OpenKey(devA, sealed, spaceB, 9)
	mustDecrypt(t, "wrong space", err)
	_, err = seal.OpenKey(devA, sealed, spaceA, 10)
	mustDecrypt(t, "wrong epoch", err)
	if _, err := seal.OpenKey(keys.DeviceKey{}, sealed, spaceA, 9); err == nil {
		t.Fatal("zero device key opened a sealed key")
	}
}

// kinds lists one sealer/opener pair per ciphertext kind, with their
// correct binding, for the tamper and truncation tests.
type kind struct {
	name string
	ct   []byte
	open func(ct []byte) error
}

func kindsOf(t *testing.T) []kind {
	k := newKey(t)
	pt := []byte("the quick brown fox jumps over the lazy dog")
	pct, err := seal.SealPayload(k, spaceA, 1, pt)
	if err != nil {
		t.Fatal(err)
	}
	cct, err := seal.SealChunk(k, spaceA, 1, 5, pt)
	if err != nil {
		t.Fatal(err)
	}
	kct, err := seal.SealKey(devA.Author(), k, spaceA, 1)
	if err != nil {
		t.Fatal(err)
	}
	return []kind{
		{"payload", pct, func(ct []byte) error { _, err := seal.OpenPayload(k, spaceA, 1, ct); return err }},
		{"chunk", cct, func(ct []byte) error { _, err := seal.OpenChunk(k, spaceA, 1, 5, ct); return err }},
		{"key", kct, func(ct []byte) error { _, err := seal.OpenKey(devA, ct, spaceA, 1); return err }},
	}
}

func TestTamperEveryByte(t *testing.T) {
	for _, kd := range kindsOf(t) {
		if err := kd.open(kd.ct); err != nil {
			t.Fatalf("%s: untampered: %v", kd.name, err)
		}
		for i := range kd.ct {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				ct := bytes.Clone(kd.ct)
				ct[i] ^= mask
				mustDecrypt(t, fmt.Sprintf("%s: byte %d ^ %#x", kd.name, i, mask), kd.open(ct))
			}
		}
	}
}

func TestTruncateExtend(t *testing.T) {
	for _, kd := range kindsOf(t) {
		for n := range len(kd.ct) {
			mustDecrypt(t, fmt.Sprintf("%s: first %d bytes", kd.name, n), kd.open(kd.ct[:n]))
		}
		mustDecrypt(t, kd.name+": extended", kd.open(append(bytes.Clone(kd.ct), 0)))
		mustDecrypt(t, kd.name+": nil", kd.open(nil))
	}
}

func TestWrongBinding(t *testing.T) {
	k, other := newKey(t), newKey(t)
	pt := []byte("value")
	pct, _ := seal.SealPayload(k, spaceA, 4, pt)
	cct, _ := seal.SealChunk(k, spaceA, 4, 2, pt)
	payload := func(k seal.ReadKey, sp keys.SpaceID, epoch uint64, ct []byte) error {
		_, err := seal.OpenPayload(k, sp, epoch, ct)
		return err
	}
	chunk := func(k seal.ReadKey, sp keys.SpaceID, epoch, index uint64, ct []byte) error {
		_, err := seal.OpenChunk(k, sp, epoch, index, ct)
		return err
	}
	mustDecrypt(t, "payload: wrong space", payload(k, spaceB, 4, pct))
	mustDecrypt(t, "payload: wrong epoch", payload(k, spaceA, 5, pct))
	mustDecrypt(t, "payload: wrong key", payload(other, spaceA, 4, pct))
	mustDecrypt(t, "payload opened as chunk", chunk(k, spaceA, 4, 0, pct))
	mustDecrypt(t, "chunk: wrong space", chunk(k, spaceB, 4, 2, cct))
	mustDecrypt(t, "chunk: wrong epoch", chunk(k, spaceA, 3, 2, cct))
	mustDecrypt(t, "chunk: wrong index", chunk(k, spaceA, 4, 3, cct))
	mustDecrypt(t, "chunk: wrong key", chunk(other, spaceA, 4, 2, cct))
	mustDecrypt(t, "chunk opened as payload", payload(k, spaceA, 4, cct))
}

// TestNoEquality: sealing the same plaintext twice gives different
// ciphertexts, so an observer cannot tell equal plaintexts apart.
func TestNoEquality(t *testing.T) {
	k := newKey(t)
	pt := []byte("same")
	a, _ := seal.SealPayload(k, spaceA, 1, pt)
	b, _ := seal.SealPayload(k, spaceA, 1, pt)
	c, _ := seal.SealChunk(k, spaceA, 1, 0, pt)
	d, _ := seal.SealChunk(k, spaceA, 1, 0, pt)
	e, _ := seal.SealKey(devA.Author(), k, spaceA, 1)
	f, _ := seal.SealKey(devA.Author(), k, spaceA, 1)
	for _, p := range [][2][]byte{{a, b}, {c, d}, {e, f}} {
		if bytes.Equal(p[0], p[1]) {
			t.Fatalf("two seals are equal: %x", p[0])
		}
	}
	if bytes.Equal(e[:32], f[:32]) {
		t.Fatal("ephemeral key reused")
	}
}

func TestReadKeyNotPrinted(t *testing.T) {
	k := seal.ReadKey{0x42, 0x42, 0x42}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if bytes.Contains([]byte(s), []byte("42")) || bytes.Contains([]byte(s), []byte("66")) {
			t.Fatalf("read key printed: %q", s)
		}
	}
}

func BenchmarkChunk(b *testing.B) {
	k := newKey(b)
	chunk := bytes.Repeat([]byte{7}, seal.MaxChunk)
	b.Run("Seal", func(b *testing.B) {
		b.SetBytes(int64(len(chunk)))
		for i := 0; b.Loop(); i++ {
			if _, err := seal.SealChunk(k, spaceA, 1, uint64(i), chunk); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open", func(b *testing.B) {
		ct, _ := seal.SealChunk(k, spaceA, 1, 0, chunk)
		b.SetBytes(int64(len(chunk)))
		for b.Loop() {
			if _, err := seal.OpenChunk(k, spaceA, 1, 0, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}
