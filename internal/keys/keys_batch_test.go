package keys

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

func TestBatchVerifier(t *testing.T) {
	k := DeviceKeyFromSeed([32]byte{9})
	bv := NewBatchVerifier(10)
	for i := range 10 {
		d := Digest{byte(i)}
		sig := k.Sign("ctx", d)
		if i == 7 {
			sig[0] ^= 1
		}
		bv.Add([32]byte(k.Author()), "ctx", d, sig[:])
	}
	if bv.Verify() {
		t.Fatal("a batch with a bad signature verified")
	}
	good := NewBatchVerifier(1)
	sig := k.Sign("ctx", Digest{1})
	good.Add([32]byte(k.Author()), "ctx", Digest{1}, sig[:])
	if !good.Verify() || !NewBatchVerifier(0).Verify() {
		t.Fatal("a good batch failed")
	}
}

// TestZIP215Vectors checks the 196 ZIP-215 test vectors (small-order and
// non-canonical keys and R values, all valid under ZIP-215, most invalid
// under RFC 8032; testdata/zip215.json.gz, from curve25519-voi, the same
// set as ed25519consensus's): each verifies alone and in a batch, so the
// rules did not change with the library (docs/design.md, "Signature
// verification").
func TestZIP215Vectors(t *testing.T) {
	vectors := zip215Vectors(t)
	if len(vectors) != 196 {
		t.Fatalf("%d vectors, want 196", len(vectors))
	}
	msg := []byte("Zcash")
	all := NewBatchVerifier(len(vectors))
	for i, v := range vectors {
		pub, err1 := hex.DecodeString(v[0])
		sig, err2 := hex.DecodeString(v[1])
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if !verifyMsg(pub, msg, sig) {
			t.Errorf("vector %d does not verify alone", i)
		}
		one := NewBatchVerifier(1)
		one.add(pub, msg, sig)
		if !one.Verify() {
			t.Errorf("vector %d does not verify in a batch", i)
		}
		all.add(pub, msg, sig)
	}
	if !all.Verify() {
		t.Error("the 196 vectors do not verify as one batch")
	}
}

// zip215Vectors reads the ZIP-215 test vectors: hex public key and
// signature pairs, of the message "Zcash".
func zip215Vectors(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open("testdata/zip215.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var vectors [][2]string
	if err := json.NewDecoder(zr).Decode(&vectors); err != nil {
		t.Fatal(err)
	}
	return vectors
}

// TestVerifyRejects: a flipped bit anywhere in a signature, key or
// message fails alone and in a batch of valid ones of every size around
// the switch to Pippenger's method.
func TestVerifyRejects(t *testing.T) {
	ks := []DeviceKey{DeviceKeyFromSeed([32]byte{1}), DeviceKeyFromSeed([32]byte{2})}
	for _, n := range []int{1, 2, 93, 94, 95, 300} {
		for _, flip := range []string{"sig", "key", "digest"} {
			bv := NewBatchVerifier(n)
			for i := range n {
				k := ks[i%2]
				d := Digest{byte(i), byte(i >> 8)}
				sig := k.Sign("ctx", d)
				pub := [32]byte(k.Author())
				if i == n/2 {
					switch flip {
					case "sig":
						sig[5] ^= 0x10
					case "key":
						pub[3] ^= 1
					case "digest":
						d[31] ^= 1
					}
					if Verify(pub, "ctx", d, sig[:]) {
						t.Fatalf("n=%d: a signature with a flipped %s verified alone", n, flip)
					}
				}
				bv.Add(pub, "ctx", d, sig[:])
			}
			if bv.Verify() {
				t.Fatalf("n=%d: a batch with a flipped %s verified", n, flip)
			}
		}
	}
	bad := NewBatchVerifier(1)
	bad.Add([32]byte{}, "ctx", Digest{}, []byte{1, 2, 3})
	if bad.Verify() {
		t.Fatal("a batch with a short signature verified")
	}
}

// TestExpandedAgrees: a key's cached expanded form verifies exactly as
// the key does unexpanded, for the ZIP-215 vectors (small-order and
// non-canonical keys) and for keys that are not points at all; the
// cache never holds more than its bound.
func TestExpandedAgrees(t *testing.T) {
	vectors := zip215Vectors(t)
	msg := []byte("Zcash")
	notPoints := 0
	for i, v := range vectors {
		pub, _ := hex.DecodeString(v[0])
		sig, _ := hex.DecodeString(v[1])
		for flip := range 3 { // as given, then a bit of the key flipped, then of y's top byte
			p := bytes.Clone(pub)
			if flip > 0 {
				p[flip*15] ^= 0x04
			}
			plain := voi.VerifyWithOptions(voi.PublicKey(p), msg, sig, zip215)
			for round := range 2 { // computing the expanded form, then from the cache
				if got := verifyMsg(p, msg, sig); got != plain {
					t.Fatalf("vector %d, flip %d, round %d: expanded says %v, plain %v", i, flip, round, got, plain)
				}
			}
			if expanded(p) == nil {
				notPoints++
			}
		}
	}
	if notPoints == 0 {
		t.Error("no key that is not a point was tried")
	}
	for i := range expandedMax + 10 {
		a := DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8), 7}).Author()
		expanded(a[:])
	}
	expandedKeys.Lock()
	n := len(expandedKeys.m)
	expandedKeys.Unlock()
	if n > expandedMax || n == 0 {
		t.Errorf("the cache holds %d keys, want 1..%d", n, expandedMax)
	}
}

// TestBatchAgreesWithAlone: batches of signatures by a few keys (whose
// terms the batch sums per key) and of the ZIP-215 vectors, with at most
// one of them spoiled in one of several ways, verify as a batch exactly
// when every one verifies alone.
func TestBatchAgreesWithAlone(t *testing.T) {
	vectors := zip215Vectors(t)
	ks := make([]DeviceKey, 5)
	for i := range ks {
		ks[i] = DeviceKeyFromSeed([32]byte{byte(i), 42})
	}
	type item struct{ pub, msg, sig []byte }
	for round := range 200 {
		n := 1 + round%130
		items := make([]item, 0, n)
		for i := range n {
			if i%7 == 3 {
				v := vectors[(round*31+i)%len(vectors)]
				pub, _ := hex.DecodeString(v[0])
				sig, _ := hex.DecodeString(v[1])
				items = append(items, item{pub, []byte("Zcash"), sig})
				continue
			}
			k := ks[(i*i+round)%len(ks)]
			d := Digest{byte(i), byte(round)}
			sig := k.Sign("ctx", d)
			pub := k.Author()
			items = append(items, item{pub[:], message("ctx", d), sig[:]})
		}
		if round%3 != 0 { // spoil one
			it := &items[(round*7)%n]
			it.pub, it.msg, it.sig = bytes.Clone(it.pub), bytes.Clone(it.msg), bytes.Clone(it.sig)
			switch round % 6 {
			case 1:
				it.sig[round%32] ^= 1 << (round % 8) // R
			case 2:
				it.sig[32+round%31] ^= 1 << (round % 8) // s
			case 4:
				it.msg[len(it.msg)-1] ^= 1
			case 5:
				it.pub = ks[(round+1)%len(ks)].Author().Bytes()
			}
		}
		want := true
		bv := NewBatchVerifier(n)
		for _, it := range items {
			want = want && verifyMsg(it.pub, it.msg, it.sig)
			bv.add(it.pub, it.msg, it.sig)
		}
		if got := bv.Verify(); got != want {
			t.Fatalf("round %d (%d signatures): the batch says %v, one by one %v", round, n, got, want)
		}
	}
}

// FuzzBatchVerify: a batch of a valid signature and of fuzzed key,
// message and signature bytes verifies exactly when the fuzzed one
// verifies alone (the batch sums terms per key: the valid one's key may
// be the fuzzed one's).
func FuzzBatchVerify(f *testing.F) {
	k := DeviceKeyFromSeed([32]byte{3})
	sig := k.Sign("ctx", Digest{1})
	f.Add(k.Author().Bytes(), message("ctx", Digest{1}), sig[:])
	f.Add(k.Author().Bytes(), message("ctx", Digest{2}), sig[:])
	f.Add(make([]byte, Size), []byte("m"), make([]byte, SigSize))
	good := k.Sign("ctx", Digest{7})
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		bv := NewBatchVerifier(2)
		bv.Add([Size]byte(k.Author()), "ctx", Digest{7}, good[:])
		bv.add(pub, msg, sig)
		if got, want := bv.Verify(), verifyMsg(pub, msg, sig); got != want {
			t.Fatalf("batch %v, alone %v", got, want)
		}
	})
}
