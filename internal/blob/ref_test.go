package blob_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/blob"
)

func TestRefRoundTrip(t *testing.T) {
	for _, r := range []blob.Ref{
		{},
		{ID: blob.BlobID{1, 2, 3}, Size: 5 << 20, Type: "image/jpeg"},
		{ID: blob.BlobID{9}, Size: blob.MaxBlobSize},
		{ID: blob.BlobID{7}, Size: 3, Type: "image/png", Sealed: true, Epoch: 2},
		{ID: blob.BlobID{7}, Size: 3, Sealed: true}, // epoch 0, the first
	} {
		got, err := blob.DecodeRef(r.Encode())
		if err != nil || got != r {
			t.Fatalf("DecodeRef(Encode(%+v)) = %+v, %v", r, got, err)
		}
	}
}

func TestRefGolden(t *testing.T) {
	r := blob.Ref{ID: blob.BlobID{0xaa}, Size: 1000, Type: "text/plain"}
	// a3 (map of 3), 01 5820 aa00…, 02 1903e8, 03 6a "text/plain"
	want := "a3015820aa" + zeros(31) + "021903e8036a746578742f706c61696e"
	if got := hexOf(r.Encode()); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	// A sealed blob's: a4 (map of 4), …, 04 00 (epoch 0).
	r.Sealed = true
	if got, want := hexOf(r.Encode()), "a4"+want[2:]+"0400"; got != want {
		t.Fatalf("sealed encoding\n got %s\nwant %s", got, want)
	}
}

func TestDecodeRefRejects(t *testing.T) {
	good := blob.Ref{ID: blob.BlobID{1}, Size: 10, Type: "image/png"}.Encode()
	for name, b := range map[string][]byte{
		"empty":         nil,
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte{}, good...), 0),
		"short id":      mustHex("a2014101020a"),
		"too large":     blob.Ref{ID: blob.BlobID{1}, Size: blob.MaxBlobSize + 1}.Encode(),
		"bad type":      blob.Ref{ID: blob.BlobID{1}, Type: "not a type"}.Encode(),
		"empty type":    mustHex("a3015820" + zeros(32) + "020a0360"),
		"unknown field": mustHex("a3015820" + zeros(32) + "020a0500"),
		"non-canonical": mustHex("a3015820" + zeros(32) + "02180a" + "0369696d6167652f706e67"),
	} {
		if _, err := blob.DecodeRef(b); !errors.Is(err, blob.ErrBadRef) {
			t.Errorf("%s: DecodeRef(%x) = %v, want ErrBadRef", name, b, err)
		}
	}
	if err := (blob.Ref{Epoch: 3}).Validate(); !errors.Is(err, blob.ErrBadRef) {
		t.Errorf("Validate of an epoch without Sealed: %v, want ErrBadRef", err)
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func zeros(n int) string { return strings.Repeat("00", n) }

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
