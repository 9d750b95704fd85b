package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/keys"
)

func TestSchemaRowRoundTrip(t *testing.T) {
	sp := keys.SpaceKeyFromSeed([32]byte{1}).Space()
	sc := acl.Schema{Granter: keys.DeviceKeyFromSeed([32]byte{2}).Author(), Seq: 7, App: "chat", Version: 3, Body: []byte(`{"rules":[]}`)}
	got, err := decodeSchemaRow(schemaKey(sp, sc.Granter, sc.Seq, 1), encodeSchema(sc))
	if err != nil || got.Granter != sc.Granter || got.Seq != 7 || got.App != "chat" || got.Version != 3 || !bytes.Equal(got.Body, sc.Body) {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, sc)
	}
	if _, err := decodeSchemaRow(schemaKey(sp, sc.Granter, sc.Seq, 1), encodeSchema(acl.Schema{})); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a row without an app: %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeSchemaRow: a schema row read from a damaged disk decodes or
// is ErrCorrupt, and what decodes encodes back to the same value.
func FuzzDecodeSchemaRow(f *testing.F) {
	sp := keys.SpaceKeyFromSeed([32]byte{1}).Space()
	au := keys.DeviceKeyFromSeed([32]byte{2}).Author()
	f.Add(schemaKey(sp, au, 1, 0), encodeSchema(acl.Schema{App: "chat", Version: 1, Body: []byte(`{}`)}))
	f.Add(schemaKey(sp, au, 1, 0), encodeSchema(acl.Schema{App: "a", Version: 2}))
	f.Add([]byte{tagSchema}, []byte{0, 0})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		sc, err := decodeSchemaRow(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeSchema(sc), v) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", v, sc, encodeSchema(sc))
		}
	})
}

// FuzzDecodeOnceRow: the key of a tracked write's row (write-once rules)
// read from a damaged disk decodes or is ErrCorrupt, and what decodes
// makes the same row key again.
func FuzzDecodeOnceRow(f *testing.F) {
	sp := keys.SpaceKeyFromSeed([32]byte{1}).Space()
	au := keys.DeviceKeyFromSeed([32]byte{2}).Author()
	f.Add(onceKey(sp, acl.Loc{Author: au, Seq: 3}, []byte("board/poll/1795275592000-"+au.String())))
	f.Add(onceKey(sp, acl.Loc{Author: au, Seq: 1}, []byte("p")))
	f.Add([]byte{tagOnce})
	f.Fuzz(func(t *testing.T, k []byte) {
		key, l, err := decodeOnceRow(k)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		var rsp keys.SpaceID
		copy(rsp[:], k[1:])
		if got := onceKey(rsp, l, key); !bytes.Equal(got, k) {
			t.Fatalf("%x decodes to %s %+v, which makes the row %x", k, key, l, got)
		}
	})
}
