package blob_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/blob"
)

// FuzzDecodeManifest feeds arbitrary bytes to the manifest decoder: what it
// accepts must be valid and re-encode to the same bytes. Run it with:
//
//	go test -run='^$' -fuzz=FuzzDecodeManifest -fuzztime=15s ./internal/blob
func FuzzDecodeManifest(f *testing.F) {
	loam, _ := blob.Split(strings.NewReader("loam"), func(int, []byte) error { return nil })
	two := blob.Manifest{Size: blob.ChunkSize + 1, Chunks: []blob.ChunkID{{1}, {2}}}
	for _, b := range [][]byte{
		nil,
		blob.Manifest{}.Encode(),
		loam.Encode(),
		two.Encode(),
		append(two.Encode(), 0),
		two.Encode()[:40],
		{2, 0, 0, 0, 0, 0, 0, 0, 0},
		{1, 0, 0, 1, 0, 0, 0, 0, 0}, // 1 TiB, no chunks
		{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := blob.DecodeManifest(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded an invalid manifest: %v", err)
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("%x re-encodes as %x", b, m.Encode())
		}
		if _, err := blob.VerifyManifest(m.ID(), b); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseIDs feeds arbitrary text to the blob and chunk ID parsers. Run
// it with:
//
//	go test -run='^$' -fuzz=FuzzParseIDs -fuzztime=15s ./internal/blob
func FuzzParseIDs(f *testing.F) {
	const (
		blb = "blb_vev5tglgx7dxw3bgpkzgatchc4fzwlk3jczm5islbp5zjlycqh2q"
		chk = "chk_5nudfuevpdb7g4dk3ejo462qzde6rp64fbohiui5g7dj6bwhmodq"
	)
	for _, s := range []string{
		blb, chk, "", "blb_", "chk_",
		strings.ToUpper(chk),
		blb[:len(blb)-1] + "r", // non-canonical tail
		blb + "\n",
		"cmt_" + blb[4:],
		"blb_777777777777777777777777777777777777777777777777777q",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		accepted := 0
		if id, err := blob.ParseBlobID(s); err == nil {
			accepted++
			if id.String() != s {
				t.Fatalf("ParseBlobID(%q) = %s", s, id)
			}
		}
		if id, err := blob.ParseChunkID(s); err == nil {
			accepted++
			if id.String() != s {
				t.Fatalf("ParseChunkID(%q) = %s", s, id)
			}
		}
		if accepted > 1 {
			t.Fatalf("%q parsed as both a blob and a chunk ID", s)
		}
	})
}

// FuzzDecodeRef feeds arbitrary bytes to the blob reference decoder: what
// it accepts must be valid and re-encode to the same bytes. Run it with:
//
//	go test -run='^$' -fuzz=FuzzDecodeRef -fuzztime=15s ./internal/blob
func FuzzDecodeRef(f *testing.F) {
	f.Add([]byte(nil))
	f.Add(blob.Ref{ID: blob.BlobID{1}, Size: 5, Type: "image/jpeg; q=1"}.Encode())
	f.Add(blob.Ref{Size: blob.MaxBlobSize}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := blob.DecodeRef(b)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded an invalid ref: %v", err)
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("%x re-encodes as %x", b, r.Encode())
		}
	})
}
