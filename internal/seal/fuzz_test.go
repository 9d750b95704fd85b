package seal_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/seal"
)

var fuzzKey = seal.ReadKey{1, 2, 3, 4, 5, 6, 7, 8}

// Golden ciphertexts, sealed once under fuzzKey (fixed rather than sealed
// per run, because the fuzzing engine runs seeds in other processes). They
// also pin the wire format: a change that stops them opening breaks every
// stored private space.
var (
	goldenPayload   = mustHex("f3825fb691127a7676d381f46a1497a77d43f3d0ff01ad9ff4cb5515930b70bf51239afdbeb295e3e5ea3c3c5c")                                                                                                                       // "hello", spaceA, epoch 1
	goldenSealedKey = mustHex("f9645acc61d71692d8310b5faeaef67381025ab1ecc826e57a574342ddef267fd152a49ca261f31c3ae265fa486cf3db1eede338ad072fe2cdb69745a999a24d75b7b684634b34504503657e9b73c6cbad2c9a672d07661df7a9adcbd9466cb8a392f447e5274eb8") // fuzzKey to devA, spaceA, epoch 2
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	if pt, err := seal.OpenPayload(fuzzKey, spaceA, 1, goldenPayload); err != nil || string(pt) != "hello" {
		t.Fatalf("golden payload: %q, %v", pt, err)
	}
	if k, err := seal.OpenKey(devA, goldenSealedKey, spaceA, 2); err != nil || k != fuzzKey {
		t.Fatalf("golden sealed key: %v", err)
	}
}

// FuzzOpenPayload feeds arbitrary ciphertexts to OpenPayload and OpenChunk:
// they must never panic, must fail with ErrDecrypt, and may succeed only on
// the exact ciphertext sealed for the seed. Run it with:
//
//	go test -run='^$' -fuzz=FuzzOpenPayload -fuzztime=15s ./internal/seal
func FuzzOpenPayload(f *testing.F) {
	valid := goldenPayload
	f.Add(valid, uint64(1))
	f.Add([]byte{}, uint64(0))
	f.Add(make([]byte, seal.Overhead), uint64(1))
	f.Fuzz(func(t *testing.T, ct []byte, epoch uint64) {
		pt, err := seal.OpenPayload(fuzzKey, spaceA, epoch, ct)
		if err == nil {
			if epoch != 1 || !bytes.Equal(ct, valid) || string(pt) != "hello" {
				t.Fatalf("forged payload opened: %x", ct)
			}
		} else if !errors.Is(err, seal.ErrDecrypt) {
			t.Fatalf("err = %v, want ErrDecrypt", err)
		}
		if _, err := seal.OpenChunk(fuzzKey, spaceA, epoch, 0, ct); !errors.Is(err, seal.ErrDecrypt) {
			t.Fatalf("chunk: err = %v, want ErrDecrypt", err)
		}
		// Round trip of the input as a plaintext.
		sealed, err := seal.SealPayload(fuzzKey, spaceB, epoch, ct)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := seal.OpenPayload(fuzzKey, spaceB, epoch, sealed); err != nil || !bytes.Equal(got, ct) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzOpenKey feeds arbitrary sealed keys to OpenKey: it must never panic
// and must fail with ErrDecrypt except on the exact key sealed for the
// seed. Run it with:
//
//	go test -run='^$' -fuzz=FuzzOpenKey -fuzztime=15s ./internal/seal
func FuzzOpenKey(f *testing.F) {
	valid := goldenSealedKey
	f.Add(valid, uint64(2))
	f.Add([]byte{}, uint64(0))
	f.Add(make([]byte, seal.SealedKeySize), uint64(2))
	lowOrder := bytes.Clone(valid)
	copy(lowOrder, make([]byte, 32)) // ephemeral u = 0
	f.Add(lowOrder, uint64(2))
	f.Fuzz(func(t *testing.T, sealed []byte, epoch uint64) {
		k, err := seal.OpenKey(devA, sealed, spaceA, epoch)
		if err == nil {
			if epoch != 2 || !bytes.Equal(sealed, valid) || k != fuzzKey {
				t.Fatalf("forged sealed key opened: %x", sealed)
			}
		} else if !errors.Is(err, seal.ErrDecrypt) {
			t.Fatalf("err = %v, want ErrDecrypt", err)
		}
		// Arbitrary bytes as a recipient: an error or a key only that
		// recipient's device could open, never a panic.
		if len(sealed) >= keys.Size {
			var to keys.AuthorID
			copy(to[:], sealed)
			if _, err := seal.SealKey(to, fuzzKey, spaceA, epoch); err != nil && !errors.Is(err, seal.ErrRecipient) {
				t.Fatalf("SealKey: err = %v", err)
			}
		}
	})
}
