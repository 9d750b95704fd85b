package archive

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/keys"
)

// sample encodes an archive with two commits (opaque bytes: the decoder
// does not verify them) and two blobs, the second over one data record.
func sample(t testing.TB) []byte {
	var buf bytes.Buffer
	h := Header{Space: keys.SpaceID{1, 2, 3}, Name: "garden", Created: time.Unix(1700000000, 0), Private: true,
		ReadKeys: []keys.EpochKey{{Epoch: 0, Key: [32]byte{9}}}}
	e, err := NewEncoder(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]byte{[]byte("commit one"), []byte("commit two")} {
		if err := e.Commit(c); err != nil {
			t.Fatal(err)
		}
	}
	for i, size := range []int{10, BlobDataSize + 3} {
		if err := e.Blob(blob.BlobID{byte(i + 1)}, int64(size), bytes.NewReader(bytes.Repeat([]byte{byte('a' + i)}, size))); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeAll reads every item, each blob whole.
func decodeAll(b []byte) (Header, []Item, [][]byte, error) {
	d, h, err := NewDecoder(bytes.NewReader(b))
	if err != nil {
		return h, nil, nil, err
	}
	var items []Item
	var blobs [][]byte
	for {
		it, err := d.Next()
		if errors.Is(err, io.EOF) {
			return h, items, blobs, nil
		}
		if err != nil {
			return h, items, blobs, err
		}
		items = append(items, it)
		if it.Blob != nil {
			data, err := io.ReadAll(it.Blob.R)
			if err != nil {
				return h, items, blobs, err
			}
			blobs = append(blobs, data)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	b := sample(t)
	h, items, blobs, err := decodeAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "garden" || !h.Private || len(h.ReadKeys) != 1 || h.ReadKeys[0].Key[0] != 9 || h.Created.Unix() != 1700000000 {
		t.Errorf("header %+v", h)
	}
	if len(items) != 4 || string(items[0].Commit) != "commit one" || string(items[1].Commit) != "commit two" {
		t.Fatalf("items %+v", items)
	}
	if len(blobs) != 2 || !bytes.Equal(blobs[0], bytes.Repeat([]byte("a"), 10)) || len(blobs[1]) != BlobDataSize+3 || items[3].Blob.ID[0] != 2 {
		t.Errorf("blobs of %d and %d bytes", len(blobs[0]), len(blobs[1]))
	}
}

// TestStrict: every flipped bit and every truncation of an archive fails
// with ErrBadArchive (a flipped bit inside a commit or blob shows as a
// checksum error here; a restore finds it earlier, by its signature or
// blob ID).
func TestStrict(t *testing.T) {
	b := sample(t)
	for i := 0; i < len(b); i += max(1, i/50) {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, _, _, err := decodeAll(c); !errors.Is(err, ErrBadArchive) {
			t.Fatalf("bit flipped at %d of %d: %v", i, len(b), err)
		}
		if _, _, _, err := decodeAll(b[:i]); !errors.Is(err, ErrBadArchive) {
			t.Fatalf("truncated to %d of %d: %v", i, len(b), err)
		}
	}
}

// TestSkipsUnreadBlob: a blob its reader leaves unread is skipped, and
// still checked.
func TestSkipsUnreadBlob(t *testing.T) {
	d, _, err := NewDecoder(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d items", n)
	}
}

func FuzzDecode(f *testing.F) {
	good := sample(f)
	f.Add(good)
	f.Add(good[:100])
	f.Add([]byte(Magic + "\x01"))
	f.Add(append(bytes.Clone(good), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, items, _, err := decodeAll(b)
		if err != nil {
			if !errors.Is(err, ErrBadArchive) {
				t.Fatalf("error not wrapping ErrBadArchive: %v", err)
			}
			return
		}
		// What decodes encodes back to the same bytes.
		var buf bytes.Buffer
		e, err := NewEncoder(&buf, h)
		if err != nil {
			t.Fatal(err)
		}
		_, _, blobs, _ := decodeAll(b)
		bi := 0
		for _, it := range items {
			if it.Commit != nil {
				err = e.Commit(it.Commit)
			} else {
				err = e.Blob(it.Blob.ID, it.Blob.Size, bytes.NewReader(blobs[bi]))
				bi++
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), b) {
			t.Fatal("decoded archive encodes differently")
		}
	})
}

// exampleHex is the example of docs/format/archive.md §4: space
// aabb00…00 "garden" created 2023-11-14T22:13:20Z, public; one commit
// (the 3 bytes a1 01 02, not a real commit); one blob cc00…00 of 5 bytes.
const exampleHex = "" +
	"4c4f414d4152434801" +
	"5300000030aabb0000000000000000000000000000000000000000000000000000000000000667617264656e000000006553f10000" +
	"4300000003a10102" +
	"4200000028cc000000000000000000000000000000000000000000000000000000000000000000000000000005" +
	"440000000568656c6c6f" +
	"4500000030000000000000000100000000000000010b16579290983dad882c091c59317fdd129fbd3d4c85ffd53496c50aea13f52e"

// TestGoldenExample pins the bytes of the format document's example.
func TestGoldenExample(t *testing.T) {
	var buf bytes.Buffer
	e, err := NewEncoder(&buf, Header{Space: keys.SpaceID{0xaa, 0xbb}, Name: "garden", Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Commit([]byte{0xa1, 0x01, 0x02}); err != nil {
		t.Fatal(err)
	}
	if err := e.Blob(blob.BlobID{0xcc}, 5, bytes.NewReader([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(buf.Bytes()); got != exampleHex {
		t.Fatalf("the example encodes as\n%s\nwant\n%s", got, exampleHex)
	}
	if _, _, _, err := decodeAll(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}
