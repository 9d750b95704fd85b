package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/bodylog"
	"github.com/loamdb/loam/internal/view"
)

// FuzzDecodeRow runs the decoder of every table on arbitrary rows, as
// read from a damaged disk: the key's first byte picks the table, as in
// the store. A decoder must not panic; what it cannot read is an error
// wrapping ErrCorrupt (or its format's own error, for cells and version
// vectors), and what it reads encodes back to the same bytes where the
// format has one encoding.
func FuzzDecodeRow(f *testing.F) {
	sp := keys.SpaceKeyFromSeed([32]byte{1}).Space()
	au := keys.DeviceKeyFromSeed([32]byte{2}).Author()
	id := keys.CommitID{3}
	meta, _ := json.Marshal(metaJSON{Name: "garden", Created: time.Unix(1700000000, 0).UTC()})
	g := acl.Grant{Subject: au, Granter: au, Seq: 4, Role: commit.RoleWrite, Expires: 5, Uses: 6, Invite: au, Prefix: []byte("chat/")}
	vv := view.VV{au: 7}
	cell := view.Cell{Live: []view.Entry{{Version: view.Version{Time: commit.HLC{Wall: 8}, Author: au, Seq: 9}, Kind: commit.KindPut, Value: []byte("v")}}}
	for _, row := range [][2][]byte{
		{spaceKey(tagMeta, sp), meta},
		{nameKey("garden"), sp[:]},
		{commitKey(sp, au, 1), append(id[:], 0xa3, 0x01, 0x40)},
		{commitKey(sp, au, 2), appendCommitValue(nil, id, bodylog.Place{Seg: 1, Off: 16, Len: recordKeySize + 3})},
		{commitKey(sp, au, 3), append(id[:], 0)},
		{bodyDeadKey(7), segDead{bytes: 830, erased: true}.encode()},
		{bodyEndKey, bodyEndValue(3, 4096)},
		{spaceKey(tagCommitID, sp, id[:]), append(au[:], be64(1)...)},
		{spaceKey(tagHead, sp, au[:]), head{Seq: 1, ID: id, Wall: 2, Lgc: 3}.encode()},
		{vvKey(sp, au, 1), view.AppendVV(nil, vv)},
		{spaceKey(tagFork, sp, au[:], be64(1), id[:]), []byte{0xa3}},
		{spaceKey(tagOffchain, sp, id[:]), append(append(au[:], be64(1)...), 0xa3)},
		{grantKey(sp, g, 0), encodeGrant(g)},
		{spaceKey(tagGrant, sp, au[:], au[:], be64(1)), []byte{byte(commit.RoleRead)}},
		{invalidKey(sp, au, 1), []byte("revoked")},
		{spaceKey(tagCut, sp, au[:]), be64(4)},
		{rotationKey(sp, au, 1, 0), []byte("sealed keys")},
		{cellKey(sp, []byte("k")), view.AppendCell(nil, &cell)},
		{spaceKey(tagViewState, sp), ViewState{Visible: 3, MaxTime: commit.HLC{Wall: 4}, redecide: true}.encode()},
		{floorKey(sp), (&Floor{Checkpoint: id, NeedsHistory: true, Frontier: []commit.FrontierHead{{Author: au, Seq: 2, ID: id, Time: commit.HLC{Wall: 5, Logical: 1}}}}).encode()},
		{floorKey(sp), (&Floor{}).encode()},
		{deadKey(sp, []byte("k"), view.Version{Author: au, Seq: 1}), deadValue(&view.Entry{Version: view.Version{Time: commit.HLC{Wall: 8, Logical: 2}}, Kind: commit.KindDel})},
		{{tagHead}, nil},
		{nil, nil},
	} {
		f.Add(row[0], row[1])
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if len(k) == 0 {
			return
		}
		corrupt := func(err error) {
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("table %#x: error %v does not wrap ErrCorrupt", k[0], err)
			}
		}
		switch k[0] {
		case tagMeta:
			_, err := decodeMeta(k, v)
			corrupt(err)
		case tagCommit:
			sc, cv, err := decodeCommitRow(k, v)
			corrupt(err)
			if err == nil && !bytes.Equal(commitKey(keys.SpaceID(k[1:1+keys.Size]), sc.Author, sc.Seq), k) {
				t.Fatal("commit row key does not encode back")
			}
			cv, err = decodeCommitValue(v)
			corrupt(err)
			switch {
			case err != nil:
			case cv.Logged && !bytes.Equal(appendCommitValue(nil, cv.ID, cv.Place), v):
				t.Fatal("commit row naming a record does not encode back")
			case !cv.Logged && !bytes.Equal(append(cv.ID[:], cv.Body...), v):
				t.Fatal("commit row holding its bytes does not encode back")
			case cv.Logged && (cv.bodyLen() < 0 || len(v) != commitValueSize):
				t.Fatalf("commit row naming a record of %d bytes", cv.bodyLen())
			case !cv.Logged && len(cv.Body) > 0 && cv.Body[0] == 0:
				t.Fatal("a commit's bytes starting with a zero byte read as the old form")
			}
		case tagBodyDead:
			seg, d, err := decodeBodyDeadRow(k, v)
			corrupt(err)
			if err == nil && (!bytes.Equal(bodyDeadKey(seg), k) || !bytes.Equal(d.encode(), v) || d.bytes < 0) {
				t.Fatal("dead-bytes row does not encode back")
			}
		case tagBodyEnd:
			seg, off, err := decodeBodyEnd(v)
			corrupt(err)
			if err == nil && (off < 0 || !bytes.Equal(bodyEndValue(seg, off), v)) {
				t.Fatal("body log end row does not encode back")
			}
		case tagCommitID, tagOffchain:
			l, rest, err := decodeLocRow(v)
			corrupt(err)
			if err == nil && !bytes.Equal(append(append(l.author[:], be64(l.seq)...), rest...), v) {
				t.Fatal("commit location does not encode back")
			}
		case tagHead:
			h, err := decodeHeadRow(k, v)
			corrupt(err)
			if err == nil && !bytes.Equal((head{Seq: h.Seq, ID: h.ID, Wall: h.Time.Wall, Lgc: h.Time.Logical}).encode(), v) {
				t.Fatal("head row does not encode back")
			}
		case tagVV:
			if got, err := view.DecodeVV(v); err == nil && !bytes.Equal(view.AppendVV(nil, got), v) {
				t.Fatal("version vector does not encode back")
			}
		case tagFork:
			_, _, err := decodeForkKey(k)
			corrupt(err)
		case tagGrant:
			g, err := decodeGrantRow(k, v)
			corrupt(err)
			if err == nil && len(v) > 1 && !bytes.Equal(encodeGrant(g), v) {
				t.Fatal("grant row does not encode back")
			}
		case tagInvalid:
			l, err := decodeInvalidRow(k)
			corrupt(err)
			if err == nil && !bytes.Equal(invalidKey(keys.SpaceID(k[1:1+keys.Size]), l.Author, l.Seq), k) {
				t.Fatal("invalid-commit row does not encode back")
			}
		case tagCut:
			a, cut, err := decodeCutRow(k, v)
			corrupt(err)
			if err == nil && (!bytes.Equal(be64(cut), v) || !bytes.Equal(k[1+keys.Size:], a[:])) {
				t.Fatal("cut row does not encode back")
			}
		case tagRotation:
			r, err := decodeRotationRow(k, v)
			corrupt(err)
			if err == nil && (!bytes.Equal(rotationKey(keys.SpaceID(k[1:1+keys.Size]), r.Author, r.Seq, r.Op), k) || !bytes.Equal(r.Payload, v)) {
				t.Fatal("rotation row does not encode back")
			}
		case tagCell:
			if c, err := view.DecodeCell(v); err == nil {
				c.Winner()
				c.Conflicts()
			}
		case tagFloor:
			fl, err := decodeFloor(v)
			corrupt(err)
			if err == nil && !bytes.Equal(fl.encode(), v) {
				t.Fatal("floor row does not encode back")
			}
		case tagViewState:
			vs, err := decodeViewState(v)
			corrupt(err)
			if b := vs.encode(); err == nil && (!bytes.Equal(b[:52], v[:52]) || b[52] != v[52]&7) {
				t.Fatal("view state does not encode back (flags other than rebuild, redecide and pieced aside)")
			}
		case tagDead:
			if e, ok := decodeDeadValue(v); ok && !bytes.Equal(deadValue(&e), v) && commit.Kind(v[12]) != commit.KindSealed {
				t.Fatal("dead row's value does not encode back")
			}
		}
	})
}
