package blob_test

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/golden"
)

// The golden bytes of /loam/blob/1 and of blob references, also in
// docs/protocol/blob.md: the example blob (1,048,581 bytes, byte i is
// i mod 256), its manifest and IDs, every message of a download of it,
// and the references a commit carries. A change to any of them is a
// change of the protocol (a new protocol ID) or of the commit format,
// never a fix.

const blobDoc = "../../docs/protocol/blob.md"

const (
	goldenBlobID   = "blb_rcaxuzj6uqdrwbq73m6ajxwpmqpjavkvy3ayotudb6pxuicj2omq"
	goldenChunk0   = "chk_7vb5wyycw4gr7x7fjsfxe42w3s3pnjhu2vcf23ffizylkaeimoxq"
	goldenChunk1   = "chk_tkzgz433v5g4yn55wslqndff6g2wpplis76awvp4zihhstkvsuoa"
	goldenBlobHex  = "88817a653ea4071b061fdb3c04decf641e905555c6c1874e830f9f7a2049d399"
	goldenManifest = `
01 0000000000100005
fd43db6302b70d1fdfe54c8b727356dcb6f6a4f4d5445d6ca54670b5008863af
9ab26cf37baf4dcc37bdb497068ca5f1b567bd6897fc0b55fcca0e794d55951c`
)

// goldenBlob returns the example blob and its manifest.
func goldenBlob(t testing.TB) ([]byte, blob.Manifest) {
	t.Helper()
	data := make([]byte, 1_048_581)
	for i := range data {
		data[i] = byte(i)
	}
	m, err := blob.Split(bytes.NewReader(data), func(int, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return data, m
}

// goldenBlobMsgs are the exchanges of docs/protocol/blob.md, with their
// bytes.
func goldenBlobMsgs(data []byte, m blob.Manifest) []struct {
	id   string
	msg  *blob.BlobMsg
	want string
} {
	id := m.ID()
	have := blob.NewBitmap(2)
	have.Set(0)
	have.Set(1)
	return []struct {
		id   string
		msg  *blob.BlobMsg
		want string
	}{
		{"want", &blob.BlobMsg{Type: blob.BlobMsgWant, Blob: id}, "a2 01 01 02 5820" + goldenBlobHex},
		{"have", &blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id, Manifest: m.Encode(), Chunks: 2, Have: have},
			"a5 01 02 02 5820" + goldenBlobHex + "03 5849" + goldenManifest + "\n04 02 05 41 c0"},
		{"have-none", &blob.BlobMsg{Type: blob.BlobMsgHave, Blob: id}, "a2 01 02 02 5820" + goldenBlobHex},
		{"get", &blob.BlobMsg{Type: blob.BlobMsgGet, Blob: id, Index: 1, Count: 1}, "a4 01 03 02 5820" + goldenBlobHex + "06 01 07 01"},
		{"chunk", &blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Index: 1, Data: data[blob.ChunkSize:]},
			"a4 01 04 02 5820" + goldenBlobHex + "06 01 08 45 0001020304"},
		{"err", &blob.BlobMsg{Type: blob.BlobMsgErr, Reason: "chunk 1 not held"}, "a2 01 05 09 70 6368756e6b2031206e6f742068656c64"},
	}
}

// TestGoldenBlobIDs pins the example blob's manifest, blob ID and chunk
// IDs, and finds their text forms in the document.
func TestGoldenBlobIDs(t *testing.T) {
	_, m := goldenBlob(t)
	doc := golden.Load(t, blobDoc, "blob-manifest")
	if !bytes.Equal(m.Encode(), golden.Hex(goldenManifest)) {
		t.Errorf("manifest changed:\n%s", golden.Dump(m.Encode()))
	}
	doc.Check(t, "blob-manifest.example", m.Encode())
	id := m.ID()
	if !bytes.Equal(id[:], golden.Hex(goldenBlobHex)) {
		t.Errorf("blob ID changed: %x", id)
	}
	md, err := os.ReadFile(blobDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{id.String(), goldenBlobID}, {m.Chunks[0].String(), goldenChunk0}, {m.Chunks[1].String(), goldenChunk1},
	} {
		if c.got != c.want {
			t.Errorf("ID changed: %s, was %s", c.got, c.want)
		}
		if !bytes.Contains(md, []byte(c.want)) {
			t.Errorf("%s does not show %s", blobDoc, c.want)
		}
	}
}

// TestGoldenBlobMessages pins every message's encoding and checks that
// the golden bytes decode to the message.
func TestGoldenBlobMessages(t *testing.T) {
	data, m := goldenBlob(t)
	doc := golden.Load(t, blobDoc, "blob")
	for _, c := range goldenBlobMsgs(data, m) {
		got, want := c.msg.Encode(), golden.Hex(c.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoding changed; now:\n%s", c.id, golden.Dump(got))
		}
		doc.Check(t, "blob."+c.id, got)
		back, err := blob.DecodeBlobMsg(want)
		if err != nil {
			t.Fatalf("%s: the golden bytes do not decode: %v", c.id, err)
		}
		if !bytes.Equal(back.Encode(), want) || back.Type != c.msg.Type || back.Index != c.msg.Index || !bytes.Equal(back.Data, c.msg.Data) {
			t.Errorf("%s: decoded as %+v", c.id, back)
		}
	}
}

// TestGoldenBlobRefs pins the references a commit carries: a putblob's
// (with a media type), a sealed putblob's (with its epoch) and a blob
// op's (ID and size of the sealed bytes alone).
func TestGoldenBlobRefs(t *testing.T) {
	_, m := goldenBlob(t)
	doc := golden.Load(t, blobDoc, "blob-ref")
	var sealed blob.BlobID
	for i := range sealed {
		sealed[i] = 0x5e
	}
	for _, c := range []struct {
		id   string
		ref  blob.Ref
		want string
	}{
		{"blob-ref.putblob", blob.Ref{ID: m.ID(), Size: m.Size, Type: "application/octet-stream"},
			"a3 01 5820" + goldenBlobHex + "02 1a00100005 03 7818 6170706c69636174696f6e2f6f637465742d73747265616d"},
		{"blob-ref.sealed", blob.Ref{ID: sealed, Size: 10, Sealed: true},
			"a3 01 5820 5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e 02 0a 04 00"},
		{"blob-ref.blob-op", blob.Ref{ID: sealed, Size: 50},
			"a2 01 5820 5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e 02 1832"},
	} {
		got := c.ref.Encode()
		if !bytes.Equal(got, golden.Hex(c.want)) {
			t.Errorf("%s: encoding changed; now:\n%s", c.id, golden.Dump(got))
		}
		doc.Check(t, c.id, got)
		back, err := blob.DecodeRef(got)
		if err != nil || !reflect.DeepEqual(back, c.ref) {
			t.Errorf("%s: decoded as %+v, %v", c.id, back, err)
		}
	}
}
