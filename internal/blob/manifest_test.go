package blob_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/keys"
	"lukechampine.com/blake3"
)

// randBytes returns n bytes from a ChaCha8 stream seeded with seed.
func randBytes(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// splitAll splits data and returns the manifest and a copy of each chunk.
func splitAll(t testing.TB, data []byte) (blob.Manifest, [][]byte) {
	t.Helper()
	var chunks [][]byte
	m, err := blob.Split(bytes.NewReader(data), func(i int, c []byte) error {
		if i != len(chunks) {
			t.Fatalf("chunk index %d, want %d", i, len(chunks))
		}
		chunks = append(chunks, bytes.Clone(c))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, chunks
}

const MiB = 1 << 20

var roundTripSizes = []int{0, 1, MiB - 1, MiB, MiB + 1, 5*MiB + MiB/2}

func TestSplitJoin(t *testing.T) {
	for i, size := range roundTripSizes {
		data := randBytes(uint64(i)+1, size)
		m, chunks := splitAll(t, data)
		if m.Size != int64(size) || len(m.Chunks) != blob.NumChunks(m.Size) || len(chunks) != len(m.Chunks) {
			t.Fatalf("size %d: manifest size %d, %d IDs, %d chunks", size, m.Size, len(m.Chunks), len(chunks))
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		for j, c := range chunks {
			if len(c) != m.ChunkLen(j) || len(c) == 0 {
				t.Fatalf("size %d: chunk %d has %d bytes, ChunkLen %d", size, j, len(c), m.ChunkLen(j))
			}
			if err := m.VerifyChunk(j, c); err != nil {
				t.Fatalf("size %d: chunk %d: %v", size, j, err)
			}
		}
		if got := bytes.Join(chunks, nil); !bytes.Equal(got, data) {
			t.Fatalf("size %d: joined chunks differ from the input", size)
		}
		back, err := blob.DecodeManifest(m.Encode())
		if err != nil || back.ID() != m.ID() || back.Size != m.Size || len(back.Chunks) != len(m.Chunks) {
			t.Fatalf("size %d: manifest round trip: %v", size, err)
		}
		if _, err := blob.VerifyManifest(m.ID(), m.Encode()); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

// Pinned encodings and IDs: a change here changes every blob ID in the wild.
func TestGoldenManifest(t *testing.T) {
	cases := []struct {
		name  string
		input []byte
		hex   string // the whole encoding
		blob  string
		chunk []string
	}{
		{
			name:  "empty",
			input: nil,
			hex: "01" + // version
				"0000000000000000", // size 0, no chunks
			blob: "blb_nbddmxommewqvjanwuhqux6stk2yybcpvfkp2xqkewco57fkbmbq",
		},
		{
			name:  `"loam"`,
			input: []byte("loam"),
			hex: "01" + // version
				"0000000000000004" + // size 4
				"eb6832d09578c3f3706ad912ee7b50c8c9e8bfdc285c74511d37c69f06c76387", // chunk 0
			blob:  "blb_vev5tglgx7dxw3bgpkzgatchc4fzwlk3jczm5islbp5zjlycqh2q",
			chunk: []string{"chk_5nudfuevpdb7g4dk3ejo462qzde6rp64fbohiui5g7dj6bwhmodq"},
		},
		{
			name:  "1 MiB + 1 of 0xab",
			input: bytes.Repeat([]byte{0xab}, MiB+1),
			hex: "01" + // version
				"0000000000100001" + // size 2^20 + 1
				"7db736133a864d23865edb78f6d06d9f0d2077585c6377c1b409e913b648cb7c" + // chunk 0, 1 MiB
				"0699fa300dbc65151b1797080e70b7e9e514bef84e60e5d0c974ad67599305c9", // chunk 1, 1 byte
			blob: "blb_k4ap63lmjm2pe2tub5n4zgchfbxdw3ykylh76suqjjij6e6kduzq",
			chunk: []string{
				"chk_pw3tmez2qzgshbs63n4pnudnt4gsa52ylrrxpqnubhurhnsizn6a",
				"chk_a2m7umanxrsrkgyxs4ea44fx5hsrjpxyjzqolugjoswwowmtaxeq",
			},
		},
	}
	for _, tc := range cases {
		m, _ := splitAll(t, tc.input)
		if got := hex.EncodeToString(m.Encode()); got != tc.hex {
			t.Errorf("%s: encoding\n got %s\nwant %s", tc.name, got, tc.hex)
		}
		if got := m.ID().String(); got != tc.blob {
			t.Errorf("%s: blob ID %s, want %s", tc.name, got, tc.blob)
		}
		for i, c := range m.Chunks {
			if i >= len(tc.chunk) || c.String() != tc.chunk[i] {
				t.Errorf("%s: chunk %d is %s", tc.name, i, c)
			}
		}
	}

	// Independently of keys.Hasher: a chunk ID is BLAKE3 keyed with the
	// derive-key output of the context.
	var k [32]byte
	blake3.DeriveKey(k[:], "loam/chunk/v1", nil)
	h := blake3.New(32, k[:])
	h.Write([]byte("loam"))
	if got, want := hex.EncodeToString(h.Sum(nil)), cases[1].hex[18:]; got != want {
		t.Errorf("chunk ID of \"loam\" by hand: %s, want %s", got, want)
	}
}

func TestDecodeManifestRejects(t *testing.T) {
	good := func(size int64, n int) []byte {
		b := make([]byte, 9+32*n)
		b[0] = 1
		binary.BigEndian.PutUint64(b[1:], uint64(size))
		return b
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"short header", []byte{1, 0, 0, 0}},
		{"version 0", append([]byte{0}, good(0, 0)[1:]...)},
		{"version 2", append([]byte{2}, good(0, 0)[1:]...)},
		{"empty with a chunk", good(0, 1)},
		{"one byte without its chunk", good(1, 0)},
		{"1 MiB with two chunks", good(MiB, 2)},
		{"1 MiB + 1 with one chunk", good(MiB+1, 1)},
		{"trailing byte", append(good(1, 1), 0)},
		{"partial chunk ID", good(1, 1)[:40]},
		{"over 1 TiB", good(blob.MaxBlobSize+1, 0)},
		{"negative as int64", good(-1, 0)},
	}
	for _, tc := range cases {
		if m, err := blob.DecodeManifest(tc.b); !errors.Is(err, blob.ErrMalformed) {
			t.Errorf("%s: DecodeManifest = %+v, %v; want ErrMalformed", tc.name, m, err)
		}
	}
	// The largest blob decodes.
	if m, err := blob.DecodeManifest(good(blob.MaxBlobSize, blob.MaxChunks)); err != nil || len(m.Chunks) != blob.MaxChunks {
		t.Errorf("1 TiB manifest: %v", err)
	}
}

func TestVerify(t *testing.T) {
	data := randBytes(7, MiB+10)
	m, chunks := splitAll(t, data)
	if err := blob.VerifyChunk(m.Chunks[0], chunks[0]); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(chunks[0])
	bad[12345] ^= 1
	if err := blob.VerifyChunk(m.Chunks[0], bad); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("flipped bit: %v", err)
	}
	if err := m.VerifyChunk(1, chunks[1][:9]); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("short chunk: %v", err)
	}
	// A manifest anyone could write: the right chunk ID, the wrong size.
	liar := blob.Manifest{Size: 5, Chunks: []blob.ChunkID{m.Chunks[1]}}
	if err := liar.VerifyChunk(0, chunks[1]); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("chunk longer than the manifest says: %v", err)
	}
	if _, err := blob.VerifyManifest(m.ID(), liar.Encode()); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("manifest under another blob's ID: %v", err)
	}
	var zero blob.BlobID
	if _, err := blob.VerifyManifest(zero, nil); !errors.Is(err, blob.ErrCorrupt) {
		t.Errorf("nil manifest: %v", err)
	}
}

type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.ErrClosedPipe
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

func TestSplitErrors(t *testing.T) {
	if _, err := blob.Split(&errReader{n: MiB + 5}, func(int, []byte) error { return nil }); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("read error: %v", err)
	}
	stop := errors.New("stop")
	calls := 0
	_, err := blob.Split(bytes.NewReader(make([]byte, 3*MiB)), func(int, []byte) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("fn error: %v after %d calls", err, calls)
	}
}

func TestIDText(t *testing.T) {
	var c blob.ChunkID
	for i := range c {
		c[i] = byte(i)
	}
	if got, want := c.String(), "chk_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"; got != want {
		t.Errorf("ChunkID text %s, want %s", got, want)
	}
	if got, want := blob.BlobID(c).String(), "blb_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"; got != want {
		t.Errorf("BlobID text %s, want %s", got, want)
	}
	if id, err := blob.ParseChunkID(c.String()); err != nil || id != c {
		t.Errorf("ParseChunkID round trip: %v", err)
	}
	b := blob.BlobID(c)
	if id, err := blob.ParseBlobID(b.String()); err != nil || id != b {
		t.Errorf("ParseBlobID round trip: %v", err)
	}
	s := b.String()
	for _, bad := range []string{
		"", "blb_", c.String(), "BLB_" + s[4:], "blb_" + "AAAQ" + s[8:], s + "a", s[:len(s)-1],
		s[:len(s)-1] + "r",    // non-canonical trailing bits
		s[:10] + "1" + s[11:], // not in the base32 alphabet
		"cmt_" + s[4:],
	} {
		if _, err := blob.ParseBlobID(bad); !errors.Is(err, keys.ErrMalformed) {
			t.Errorf("ParseBlobID(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := blob.ParseChunkID(s); !errors.Is(err, keys.ErrMalformed) {
		t.Errorf("ParseChunkID of a blob ID: %v", err)
	}
}
