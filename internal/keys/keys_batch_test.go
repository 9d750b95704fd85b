package keys

import "testing"

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
