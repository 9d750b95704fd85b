package seal_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/seal"
)

func sealAll(t testing.TB, k seal.ReadKey, epoch uint64, pt []byte) []byte {
	t.Helper()
	s := seal.NewSealer(k, spaceA, epoch, bytes.NewReader(pt))
	ct, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != int64(len(pt)) {
		t.Fatalf("Sealer.N = %d, want %d", s.N, len(pt))
	}
	if int64(len(ct)) != seal.SealedSize(int64(len(pt))) {
		t.Fatalf("sealed %d bytes into %d, SealedSize says %d", len(pt), len(ct), seal.SealedSize(int64(len(pt))))
	}
	return ct
}

func TestSealedBlobSizes(t *testing.T) {
	if seal.FrameSize+seal.Overhead != seal.MaxChunk {
		t.Fatalf("a sealed frame is %d bytes, want one 1 MiB chunk", seal.FrameSize+seal.Overhead)
	}
	for _, plain := range []int64{0, 1, seal.FrameSize - 1, seal.FrameSize, seal.FrameSize + 1, 5*seal.FrameSize + 7, 1 << 40} {
		ct := seal.SealedSize(plain)
		if got, ok := seal.PlainSize(ct); !ok || got != plain {
			t.Errorf("PlainSize(SealedSize(%d) = %d) = %d, %v", plain, ct, got, ok)
		}
	}
	// Sizes no plaintext seals to: a frame of overhead alone, a frame
	// longer than 1 MiB.
	for _, ct := range []int64{-1, 1, seal.Overhead, seal.MaxChunk + seal.Overhead} {
		if got, ok := seal.PlainSize(ct); ok {
			t.Errorf("PlainSize(%d) = %d, true; want false", ct, got)
		}
	}
}

func TestSealedBlobRoundTrip(t *testing.T) {
	k := newKey(t)
	for _, size := range []int{0, 1, seal.FrameSize - 1, seal.FrameSize, seal.FrameSize + 1, 3*seal.FrameSize + 12345} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			pt := make([]byte, size)
			rand.Read(pt)
			ct := sealAll(t, k, 3, pt)
			o, err := seal.NewOpened([]seal.ReadKey{newKey(t), k}, spaceA, 3, bytes.NewReader(ct), int64(len(ct)), int64(size))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(o)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("ReadAll: %d bytes, %v; equal %v", len(got), err, bytes.Equal(got, pt))
			}
			// Random ranges, as Range requests read them.
			for range 20 {
				if size == 0 {
					break
				}
				off := mrand.IntN(size)
				n := mrand.IntN(size-off) + 1
				buf := make([]byte, n)
				if m, err := o.ReadAt(buf, int64(off)); m != n || (err != nil && err != io.EOF) || !bytes.Equal(buf, pt[off:off+n]) {
					t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, m, err)
				}
			}
			if end, err := o.Seek(0, io.SeekEnd); err != nil || end != int64(size) {
				t.Fatalf("Seek(end) = %d, %v", end, err)
			}
		})
	}
}

func TestSealedBlobFreshNonces(t *testing.T) {
	k := newKey(t)
	pt := bytes.Repeat([]byte("same file "), 1000)
	if bytes.Equal(sealAll(t, k, 1, pt), sealAll(t, k, 1, pt)) {
		t.Fatal("sealing one plaintext twice gave equal ciphertexts: blob IDs would reveal equal files")
	}
}

func TestSealedBlobTamper(t *testing.T) {
	k := newKey(t)
	pt := make([]byte, 2*seal.FrameSize+100)
	rand.Read(pt)
	ct := sealAll(t, k, 1, pt)
	read := func(ks []seal.ReadKey, epoch uint64, ct []byte, plain int64) error {
		o, err := seal.NewOpened(ks, spaceA, epoch, bytes.NewReader(ct), int64(len(ct)), plain)
		if err != nil {
			return err
		}
		_, err = io.ReadAll(o)
		return err
	}
	flipped := bytes.Clone(ct)
	flipped[seal.MaxChunk+500] ^= 1
	swapped := bytes.Clone(ct)
	copy(swapped, ct[seal.MaxChunk:2*seal.MaxChunk])
	copy(swapped[seal.MaxChunk:], ct[:seal.MaxChunk])
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"flipped byte", read([]seal.ReadKey{k}, 1, flipped, int64(len(pt)))},
		{"frames swapped", read([]seal.ReadKey{k}, 1, swapped, int64(len(pt)))},
		{"wrong key", read([]seal.ReadKey{newKey(t)}, 1, ct, int64(len(pt)))},
		{"wrong epoch", read([]seal.ReadKey{k}, 2, ct, int64(len(pt)))},
		{"no key", read(nil, 1, ct, int64(len(pt)))},
	} {
		if !errors.Is(tc.err, seal.ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", tc.name, tc.err)
		}
	}
	if err := read([]seal.ReadKey{k}, 1, ct[:len(ct)-1], int64(len(pt))); !errors.Is(err, seal.ErrSealedSize) {
		t.Errorf("truncated: err = %v, want ErrSealedSize", err)
	}
	if err := read([]seal.ReadKey{k}, 1, ct, int64(len(pt))-1); !errors.Is(err, seal.ErrSealedSize) {
		t.Errorf("wrong plaintext size: err = %v, want ErrSealedSize", err)
	}
}

// FuzzOpenedSealedBlob reads a sealed blob whose bytes the fuzzer may have
// altered, at any offset and size: the reader must never panic, and must
// return exactly the plaintext or an error wrapping ErrDecrypt or
// ErrSealedSize. Run it with:
//
//	go test -run='^$' -fuzz=FuzzOpenedSealedBlob -fuzztime=15s ./internal/seal
func FuzzOpenedSealedBlob(f *testing.F) {
	pt := bytes.Repeat([]byte("loam sealed blob "), 100)
	ct := sealAll(f, fuzzKey, 1, pt)
	f.Add(uint16(0), byte(0), int64(0), uint16(100), int64(len(pt)), int64(0))
	f.Add(uint16(7), byte(1), int64(10), uint16(1000), int64(len(pt)), int64(0))
	f.Add(uint16(0), byte(0), int64(0), uint16(100), int64(len(pt)+1), int64(-1))
	f.Fuzz(func(t *testing.T, at uint16, flip byte, off int64, n uint16, plain, trim int64) {
		c := bytes.Clone(ct)
		if int(at) < len(c) {
			c[at] ^= flip
		}
		if trim > 0 && trim < int64(len(c)) {
			c = c[:int64(len(c))-trim]
		}
		o, err := seal.NewOpened([]seal.ReadKey{fuzzKey}, spaceA, 1, bytes.NewReader(c), int64(len(c)), plain)
		if err != nil {
			if !errors.Is(err, seal.ErrSealedSize) {
				t.Fatalf("NewOpened: %v", err)
			}
			return
		}
		buf := make([]byte, n)
		m, err := o.ReadAt(buf, off)
		switch {
		case err == nil || err == io.EOF:
			if off < 0 || off > int64(len(pt)) || !bytes.Equal(buf[:m], pt[off:off+int64(m)]) {
				t.Fatalf("ReadAt(%d at %d) returned bytes that are not the plaintext", n, off)
			}
			if flip != 0 && int(at) < len(ct) && m > 0 {
				t.Fatalf("a flipped byte at %d went unnoticed", at)
			}
		case off < 0:
		case !errors.Is(err, seal.ErrDecrypt):
			t.Fatalf("ReadAt: %v, want ErrDecrypt", err)
		}
	})
}
