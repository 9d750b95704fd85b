package view_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/view"
)

// author returns an author ID whose first byte is b.
func author(b byte) keys.AuthorID { return keys.AuthorID{b} }

// ver returns a version at wall time w (logical 0).
func ver(w uint64, a byte, seq uint64, op uint32) view.Version {
	return view.Version{Time: commit.HLC{Wall: w}, Author: author(a), Seq: seq, Op: op}
}

// put returns a put entry with version v and value s.
func put(v view.Version, s string) view.Entry {
	return view.Entry{Version: v, Kind: commit.KindPut, Value: []byte(s)}
}

// del returns a tombstone with version v.
func del(v view.Version) view.Entry { return view.Entry{Version: v, Kind: commit.KindDel} }

func TestVersionCompare(t *testing.T) {
	base := view.Version{Time: commit.HLC{Wall: 100, Logical: 5}, Author: author(5), Seq: 5, Op: 5}
	with := func(f func(*view.Version)) view.Version {
		v := base
		f(&v)
		return v
	}
	tests := []struct {
		name string
		a, b view.Version
		want int
	}{
		{"equal", base, base, 0},
		{"zero versions", view.Version{}, view.Version{}, 0},
		{"wall decides", with(func(v *view.Version) { v.Time.Wall = 99 }), base, -1},
		{"logical decides", with(func(v *view.Version) { v.Time.Logical = 6 }), base, 1},
		{"wall before logical", with(func(v *view.Version) { v.Time = commit.HLC{Wall: 99, Logical: 100} }), base, -1},
		{"time before author", with(func(v *view.Version) { v.Time.Wall = 101; v.Author = author(0) }), base, 1},
		{"author decides", with(func(v *view.Version) { v.Author = author(6) }), base, 1},
		{"author compares bytewise", with(func(v *view.Version) { v.Author[31] = 1 }), base, 1},
		{"author before seq", with(func(v *view.Version) { v.Author = author(4); v.Seq = 1000 }), base, -1},
		{"seq decides", with(func(v *view.Version) { v.Seq = 4 }), base, -1},
		{"seq before op", with(func(v *view.Version) { v.Seq = 6; v.Op = 0 }), base, 1},
		{"op decides", with(func(v *view.Version) { v.Op = 6 }), base, 1},
		{"op smaller", with(func(v *view.Version) { v.Op = 4 }), base, -1},
		{"large seq", with(func(v *view.Version) { v.Seq = math.MaxUint64 }), base, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("a.Compare(b) = %d, want %d\na = %+v\nb = %+v", got, tt.want, tt.a, tt.b)
			}
			if got := tt.b.Compare(tt.a); got != -tt.want {
				t.Errorf("b.Compare(a) = %d, want %d", got, -tt.want)
			}
		})
	}
}

// seenSet returns a SeenFunc reporting the given versions as seen, and a
// pointer to the number of times it was called.
func seenSet(vs ...view.Version) (view.SeenFunc, *int) {
	calls := new(int)
	return func(e *view.Entry) bool {
		*calls++
		return slices.Contains(vs, e.Version)
	}, calls
}

// versions returns the versions of the cell's live entries, in order.
func versions(c *view.Cell) []view.Version {
	out := make([]view.Version, len(c.Live))
	for i := range c.Live {
		out[i] = c.Live[i].Version
	}
	return out
}

// checkLive fails unless c.Live is want, entry for entry (kind and value too).
func checkLive(t *testing.T, c *view.Cell, want []view.Entry) {
	t.Helper()
	if len(c.Live) != len(want) {
		t.Fatalf("live = %v, want %v", versions(c), versionsOf(want))
	}
	for i := range want {
		g, w := c.Live[i], want[i]
		if g.Version != w.Version || g.Kind != w.Kind || !bytes.Equal(g.Value, w.Value) {
			t.Errorf("live[%d] = %+v %s %q, want %+v %s %q", i, g.Version, g.Kind, g.Value, w.Version, w.Kind, w.Value)
		}
	}
}

func versionsOf(es []view.Entry) []view.Version {
	c := view.Cell{Live: es}
	return versions(&c)
}

func TestCellApply(t *testing.T) {
	a := put(ver(10, 1, 1, 0), "a")
	b := put(ver(20, 2, 1, 0), "b")
	c := put(ver(30, 3, 1, 0), "c")
	d := put(ver(40, 4, 1, 0), "d")
	e := put(ver(50, 5, 1, 0), "e")
	tests := []struct {
		name  string
		live  []view.Entry
		w     view.Entry
		seen  []view.Version
		added bool
		want  []view.Entry
	}{
		{
			name: "new write to an empty cell", w: a, added: true, want: []view.Entry{a},
		},
		{
			name: "re-delivered write changes nothing", live: []view.Entry{a}, w: a,
			want: []view.Entry{a},
		},
		{
			name: "re-delivered write keeps entries it would have seen", live: []view.Entry{c, b, a}, w: b,
			seen: []view.Version{a.Version, c.Version}, want: []view.Entry{c, b, a},
		},
		{
			name: "re-delivered write with another value is still a duplicate", live: []view.Entry{a},
			w: put(a.Version, "other"), want: []view.Entry{a},
		},
		{
			name: "write that saw the live entry replaces it", live: []view.Entry{a}, w: b,
			seen: []view.Version{a.Version}, added: true, want: []view.Entry{b},
		},
		{
			name: "a seen entry is dropped even if its version is greater", live: []view.Entry{c}, w: b,
			seen: []view.Version{c.Version}, added: true, want: []view.Entry{b},
		},
		{
			name: "delete that saw the live entry replaces it", live: []view.Entry{a}, w: del(b.Version),
			seen: []view.Version{a.Version}, added: true, want: []view.Entry{del(b.Version)},
		},
		{
			name: "concurrent greater write wins", live: []view.Entry{a}, w: b,
			added: true, want: []view.Entry{b, a},
		},
		{
			name: "concurrent lesser write is a conflict", live: []view.Entry{b}, w: a,
			added: true, want: []view.Entry{b, a},
		},
		{
			name: "concurrent write goes between live entries", live: []view.Entry{c, a}, w: b,
			added: true, want: []view.Entry{c, b, a},
		},
		{
			name: "same time, author decides", live: []view.Entry{put(ver(10, 2, 1, 0), "x")}, w: put(ver(10, 1, 9, 0), "y"),
			added: true, want: []view.Entry{put(ver(10, 2, 1, 0), "x"), put(ver(10, 1, 9, 0), "y")},
		},
		{
			name: "ops of one commit order by op index", live: []view.Entry{put(ver(10, 1, 1, 0), "x")}, w: put(ver(10, 1, 1, 1), "y"),
			added: true, want: []view.Entry{put(ver(10, 1, 1, 1), "y"), put(ver(10, 1, 1, 0), "x")},
		},
		{
			name: "in-place filter: first and third of four seen", live: []view.Entry{e, d, b, a}, w: c,
			seen: []view.Version{e.Version, b.Version}, added: true, want: []view.Entry{d, c, a},
		},
		{
			name: "in-place filter: middle two of four seen", live: []view.Entry{e, d, b, a}, w: c,
			seen: []view.Version{d.Version, b.Version}, added: true, want: []view.Entry{e, c, a},
		},
		{
			name: "in-place filter: last two of four seen, write greatest", live: []view.Entry{d, c, b, a}, w: e,
			seen: []view.Version{b.Version, a.Version}, added: true, want: []view.Entry{e, d, c},
		},
		{
			name: "in-place filter: first of three seen, write least", live: []view.Entry{e, d, c}, w: a,
			seen: []view.Version{e.Version}, added: true, want: []view.Entry{d, c, a},
		},
		{
			name: "in-place filter: all but one of five seen", live: []view.Entry{e, d, c, b, a}, w: put(ver(60, 6, 1, 0), "f"),
			seen: []view.Version{e.Version, c.Version, b.Version, a.Version}, added: true,
			want: []view.Entry{put(ver(60, 6, 1, 0), "f"), d},
		},
		{
			name: "all seen", live: []view.Entry{c, b, a}, w: d,
			seen: []view.Version{a.Version, b.Version, c.Version}, added: true, want: []view.Entry{d},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cell := view.Cell{Live: slices.Clone(tt.live)}
			seen, calls := seenSet(tt.seen...)
			if got := cell.Apply(tt.w, seen); got != tt.added {
				t.Errorf("Apply = %v, want %v", got, tt.added)
			}
			checkLive(t, &cell, tt.want)
			if !tt.added && *calls != 0 {
				t.Errorf("a duplicate write consulted seen %d times, want 0", *calls)
			}
		})
	}
}

// TestCellApplyConcurrentOrder applies concurrent writes in every order:
// the live set and winner are the same whatever the insertion order.
func TestCellApplyConcurrentOrder(t *testing.T) {
	ws := []view.Entry{
		put(ver(10, 1, 3, 0), "a"),
		put(ver(10, 2, 1, 0), "b"),
		del(ver(5, 9, 7, 0)),
		put(ver(10, 2, 1, 1), "c"),
	}
	want := []view.Entry{ws[3], ws[1], ws[0], ws[2]} // greatest version first
	none := func(*view.Entry) bool { return false }
	for _, order := range permutations(len(ws)) {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			var c view.Cell
			for _, i := range order {
				if !c.Apply(ws[i], none) {
					t.Fatalf("Apply(write %d) = false for a new write", i)
				}
			}
			checkLive(t, &c, want)
			// Re-delivering any of them afterwards changes nothing.
			for i := range ws {
				if c.Apply(ws[i], func(*view.Entry) bool { return true }) {
					t.Errorf("re-delivered write %d was applied", i)
				}
			}
			checkLive(t, &c, want)
		})
	}
}

// permutations returns every ordering of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			out = append(out, q)
		}
	}
	return out
}

func TestWinnerConflicts(t *testing.T) {
	a := put(ver(10, 1, 1, 0), "a")
	b := del(ver(20, 2, 1, 0))
	c := put(ver(30, 3, 1, 0), "c")
	tests := []struct {
		name      string
		live      []view.Entry
		winner    *view.Entry
		tombstone bool
		conflicts []view.Entry
	}{
		{name: "empty"},
		{name: "one write", live: []view.Entry{a}, winner: &a},
		{name: "tombstone winner is returned", live: []view.Entry{b}, winner: &b, tombstone: true},
		{name: "tombstone winner with a conflict", live: []view.Entry{b, a}, winner: &b, tombstone: true, conflicts: []view.Entry{a}},
		{name: "three live", live: []view.Entry{c, b, a}, winner: &c, conflicts: []view.Entry{b, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cell := view.Cell{Live: tt.live}
			w, ok := cell.Winner()
			if ok != (tt.winner != nil) {
				t.Fatalf("Winner ok = %v, want %v", ok, tt.winner != nil)
			}
			if ok && (w.Version != tt.winner.Version || !bytes.Equal(w.Value, tt.winner.Value)) {
				t.Errorf("Winner = %+v, want %+v", w, *tt.winner)
			}
			if ok && w.Tombstone() != tt.tombstone {
				t.Errorf("Winner().Tombstone() = %v, want %v", w.Tombstone(), tt.tombstone)
			}
			got := cell.Conflicts()
			if tt.conflicts == nil && got != nil {
				t.Errorf("Conflicts = %v, want nil", versionsOf(got))
			}
			if !slices.Equal(versionsOf(got), versionsOf(tt.conflicts)) {
				t.Errorf("Conflicts = %v, want %v", versionsOf(got), versionsOf(tt.conflicts))
			}
		})
	}
}

func TestVisibleDigest(t *testing.T) {
	key := []byte("tools/drill")
	v1, v2 := ver(10, 1, 1, 0), ver(20, 2, 1, 0)
	opDigest := func(k commit.Kind, key []byte, payload string) keys.Digest {
		o := commit.Op{Kind: k, Key: key, Payload: []byte(payload)}
		return o.Digest()
	}
	blob := view.Entry{Version: v2, Kind: commit.KindPutBlob, Value: []byte("blobref")}
	tests := []struct {
		name string
		live []view.Entry
		key  []byte
		want *keys.Digest
	}{
		{name: "empty cell has none", key: key},
		{name: "tombstone winner has none", live: []view.Entry{del(v2)}, key: key},
		{name: "tombstone winner over a put has none", live: []view.Entry{del(v2), put(v1, "x")}, key: key},
		{name: "put winner", live: []view.Entry{put(v2, "cordless")}, key: key,
			want: ptr(opDigest(commit.KindPut, key, "cordless"))},
		{name: "put winner over a tombstone", live: []view.Entry{put(v2, "cordless"), del(v1)}, key: key,
			want: ptr(opDigest(commit.KindPut, key, "cordless"))},
		{name: "empty value", live: []view.Entry{put(v2, "")}, key: key,
			want: ptr(opDigest(commit.KindPut, key, ""))},
		{name: "blob winner", live: []view.Entry{blob}, key: key,
			want: ptr(opDigest(commit.KindPutBlob, key, "blobref"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cell := view.Cell{Live: tt.live}
			d, ok := cell.VisibleDigest(tt.key)
			if ok != (tt.want != nil) {
				t.Fatalf("VisibleDigest ok = %v, want %v", ok, tt.want != nil)
			}
			if !ok && d != (keys.Digest{}) {
				t.Errorf("no digest, but got %x", d)
			}
			if ok && d != *tt.want {
				t.Errorf("VisibleDigest = %x, want %x", d, *tt.want)
			}
		})
	}
	// The digest covers the key, the kind and the value.
	cell := view.Cell{Live: []view.Entry{put(v1, "v")}}
	d1, _ := cell.VisibleDigest([]byte("k1"))
	d2, _ := cell.VisibleDigest([]byte("k2"))
	cell2 := view.Cell{Live: []view.Entry{put(v1, "w")}}
	d3, _ := cell2.VisibleDigest([]byte("k1"))
	cell3 := view.Cell{Live: []view.Entry{{Version: v1, Kind: commit.KindPutBlob, Value: []byte("v")}}}
	d4, _ := cell3.VisibleDigest([]byte("k1"))
	if d1 == d2 || d1 == d3 || d1 == d4 {
		t.Errorf("digests collide: key %x/%x, value %x, kind %x", d1, d2, d3, d4)
	}
	// It does not depend on who wrote the value, or when.
	cell4 := view.Cell{Live: []view.Entry{put(v2, "v")}}
	if d5, _ := cell4.VisibleDigest([]byte("k1")); d5 != d1 {
		t.Errorf("digest depends on the version: %x vs %x", d5, d1)
	}
}

func ptr[T any](v T) *T { return &v }

func TestHashToggle(t *testing.T) {
	digest := func(s string) keys.Digest { return keys.PayloadHash.Sum1([]byte(s)) }
	a, b, c := digest("a"), digest("b"), digest("c")

	var h view.Hash
	h.Toggle(a)
	if h == (view.Hash{}) {
		t.Fatal("toggling a digest left the hash zero")
	}
	h.Toggle(a)
	if h != (view.Hash{}) {
		t.Errorf("toggling twice = %s, want zero", h)
	}

	orders := [][]keys.Digest{{a, b, c}, {c, b, a}, {b, a, c}, {a, c, b}}
	var first view.Hash
	for i, o := range orders {
		var h view.Hash
		for _, d := range o {
			h.Toggle(d)
		}
		if i == 0 {
			first = h
		} else if h != first {
			t.Errorf("order %d: hash %s, want %s", i, h, first)
		}
	}
	var want view.Hash
	for i := range want {
		want[i] = a[i] ^ b[i] ^ c[i]
	}
	if first != want {
		t.Errorf("hash %s is not the XOR of the digests %s", first, want)
	}

	// Removing one leaves the others.
	h = first
	h.Toggle(b)
	var ac view.Hash
	ac.Toggle(c)
	ac.Toggle(a)
	if h != ac {
		t.Errorf("after removing b: %s, want %s", h, ac)
	}
	if s := first.String(); len(s) != 2*keys.Size {
		t.Errorf("String() = %q, want %d hex digits", s, 2*keys.Size)
	}
}

// sampleCell returns a valid cell with several kinds of entries, greatest
// version first: a 64 KiB value, an empty value, a tombstone and a blob ref.
func sampleCell() view.Cell {
	big := bytes.Repeat([]byte("0123456789abcdef"), commit.MaxValueSize/16)
	return view.Cell{Live: []view.Entry{
		{Version: view.Version{Time: commit.HLC{Wall: math.MaxUint64, Logical: math.MaxUint32}, Author: author(0xff), Seq: math.MaxUint64, Op: commit.MaxOps - 1}, Kind: commit.KindPut, Value: big},
		{Version: ver(1_700_000_000_000_000, 7, 300, 2), Kind: commit.KindPut, Value: []byte("cordless, 18V")},
		{Version: ver(1_700_000_000_000_000, 7, 300, 1), Kind: commit.KindPut},
		{Version: ver(1_600_000_000_000_000, 9, 1, 0), Kind: commit.KindDel},
		{Version: ver(1_600_000_000_000_000, 2, 128, 0), Kind: commit.KindPutBlob, Value: []byte{0, 1, 2, 3}},
		{Version: ver(1, 0, 1, 0), Kind: commit.KindPut, Value: []byte{0}},
	}}
}

// smallCell returns a valid cell of three entries, small enough to try
// every truncation.
func smallCell() view.Cell {
	return view.Cell{Live: []view.Entry{
		{Version: ver(300, 3, 200, 1), Kind: commit.KindPut, Value: []byte("hello")},
		{Version: ver(200, 2, 1, 0), Kind: commit.KindDel},
		{Version: ver(100, 1, 2, 0), Kind: commit.KindPut},
	}}
}

// equalCells reports whether two cells hold the same entries; a nil and an
// empty value are equal.
func equalCells(a, b view.Cell) bool {
	return slices.EqualFunc(a.Live, b.Live, func(x, y view.Entry) bool {
		return x.Version == y.Version && x.Kind == y.Kind && bytes.Equal(x.Value, y.Value)
	})
}

func TestCellRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		cell view.Cell
	}{
		{"one put", view.Cell{Live: []view.Entry{put(ver(1, 1, 1, 0), "v")}}},
		{"one tombstone", view.Cell{Live: []view.Entry{del(ver(1, 1, 1, 0))}}},
		{"small", smallCell()},
		{"sample with a 64 KiB value", sampleCell()},
		{"erased and lost", view.Cell{Live: []view.Entry{lose(put(ver(2, 1, 2, 0), "v")), erased(put(ver(1, 1, 1, 0), "w"))}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			enc := view.AppendCell(nil, &tt.cell)
			got, err := view.DecodeCell(enc)
			if err != nil {
				t.Fatalf("DecodeCell: %v", err)
			}
			if !equalCells(got, tt.cell) {
				t.Errorf("round trip: got %v, want %v", versions(&got), versions(&tt.cell))
			}
			if re := view.AppendCell(nil, &got); !bytes.Equal(re, enc) {
				t.Errorf("re-encoding differs")
			}
			// AppendCell appends.
			prefix := []byte("prefix")
			if got := view.AppendCell(slices.Clone(prefix), &tt.cell); !bytes.Equal(got, append(prefix, enc...)) {
				t.Errorf("AppendCell did not append to dst")
			}
			for i, e := range got.Live {
				if e.Tombstone() != (e.Kind == commit.KindDel) {
					t.Errorf("entry %d: Tombstone() = %v for kind %s", i, e.Tombstone(), e.Kind)
				}
			}
		})
	}
}

// TestCellEncoding pins the layout of one entry.
func TestCellEncoding(t *testing.T) {
	c := view.Cell{Live: []view.Entry{{
		Version: view.Version{Time: commit.HLC{Wall: 0x0102030405060708, Logical: 0x090a0b0c}, Author: author(0xaa), Seq: 300, Op: 2},
		Kind:    commit.KindPut,
		Value:   []byte("xy"),
	}}}
	want := []byte{1}
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	want = append(want, 0xaa)
	want = append(want, make([]byte, 31)...)
	want = append(want, 0xac, 0x02, 2, 1, 2, 'x', 'y')
	if got := view.AppendCell(nil, &c); !bytes.Equal(got, want) {
		t.Errorf("AppendCell = %x\nwant         %x", got, want)
	}
}

func TestDecodeCellRejects(t *testing.T) {
	enc := func(es ...view.Entry) []byte {
		return view.AppendCell(nil, &view.Cell{Live: es})
	}
	good := view.AppendCell(nil, ptr(smallCell()))
	a := put(ver(10, 1, 1, 0), "a")
	b := put(ver(20, 2, 1, 0), "b")
	withKind := func(k commit.Kind) []byte { return enc(view.Entry{Version: a.Version, Kind: k}) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"zero count", []byte{0}},
		{"zero count with trailing bytes", append([]byte{0}, good[1:]...)},
		{"count too large", binary.AppendUvarint(nil, 1<<16+1)},
		{"huge count", binary.AppendUvarint(nil, math.MaxUint64)},
		{"count larger than the entries", append([]byte{4}, good[1:]...)},
		{"count overflows", bytes.Repeat([]byte{0xff}, 11)},
		{"trailing byte", append(slices.Clone(good), 0)},
		{"trailing entry", append(slices.Clone(good), enc(a)[1:]...)},
		{"entries in ascending order", enc(a, b)},
		{"duplicate entry", enc(b, b)},
		{"same version, different value", enc(b, put(b.Version, "other"))},
		{"kind 0", withKind(0)},
		{"kind grant", withKind(commit.KindGrant)},
		{"kind sealed", withKind(commit.KindSealed)},
		{"kind 255", withKind(255)},
		{"seq 0", enc(put(ver(10, 1, 0, 0), "a"))},
		{"seq 0 in a later entry", enc(b, put(ver(10, 1, 0, 0), "a"))},
		{"op index too large", enc(put(ver(10, 1, 1, commit.MaxOps+1), "a"))},
		{"op index max uint32", enc(put(ver(10, 1, 1, math.MaxUint32), "a"))},
		{"value too large", enc(view.Entry{Version: a.Version, Kind: commit.KindPut, Value: make([]byte, commit.MaxValueSize+1)})},
		{"lost but not erased", func() []byte {
			b := enc(put(a.Version, ""))
			b[1+8+4+32+2] |= 0x40 // the kind byte
			return b
		}()},
		{"value length past the end", append(bytes.TrimSuffix(enc(put(a.Version, "")), []byte{0}), 5, 'x')},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := view.DecodeCell(tt.b)
			if err == nil {
				t.Fatalf("DecodeCell(%x) accepted %v", clip(tt.b), versions(&c))
			}
			if !errors.Is(err, view.ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

// TestDecodeCellTruncated cuts valid encodings at every byte position.
func TestDecodeCellTruncated(t *testing.T) {
	for _, cell := range []view.Cell{smallCell(), sampleCell()} {
		b := view.AppendCell(nil, &cell)
		for i := range len(b) {
			if c, err := view.DecodeCell(b[:i]); err == nil || !errors.Is(err, view.ErrCorrupt) {
				t.Fatalf("DecodeCell of the first %d of %d bytes = %v, %v; want ErrCorrupt", i, len(b), versions(&c), err)
			}
		}
		if _, err := view.DecodeCell(b); err != nil {
			t.Fatalf("the whole encoding: %v", err)
		}
	}
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func sampleVV() view.VV {
	return view.VV{
		author(1):    1,
		author(0xff): math.MaxUint64,
		author(0x80): 300,
		{0, 0, 1}:    7,
		author(0):    0,
	}
}

func TestVVRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    view.VV
	}{
		{"empty", view.VV{}},
		{"one", view.VV{author(3): 42}},
		{"several", sampleVV()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			enc := view.AppendVV(nil, tt.v)
			got, err := view.DecodeVV(enc)
			if err != nil {
				t.Fatalf("DecodeVV: %v", err)
			}
			if !maps.Equal(got, tt.v) {
				t.Errorf("round trip: got %v, want %v", got, tt.v)
			}
			if re := view.AppendVV(nil, got); !bytes.Equal(re, enc) {
				t.Errorf("re-encoding differs:\n%x\n%x", re, enc)
			}
		})
	}
	// The encoding does not depend on map order: authors come sorted.
	enc := view.AppendVV(nil, sampleVV())
	for range 20 {
		if got := view.AppendVV(nil, maps.Clone(sampleVV())); !bytes.Equal(got, enc) {
			t.Fatal("AppendVV is not deterministic")
		}
	}
	var prev []byte
	for i, off := 0, 1; i < len(sampleVV()); i++ {
		a := enc[off : off+keys.Size]
		if prev != nil && bytes.Compare(prev, a) >= 0 {
			t.Errorf("author %d is not after author %d", i, i-1)
		}
		prev = a
		_, n := binary.Uvarint(enc[off+keys.Size:])
		off += keys.Size + n
	}
}

func TestVVSawMerge(t *testing.T) {
	v := view.VV{author(1): 5, author(2): 1}
	for _, tt := range []struct {
		a    byte
		seq  uint64
		want bool
	}{{1, 5, true}, {1, 4, true}, {1, 6, false}, {2, 1, true}, {3, 1, false}, {3, 0, true}} {
		if got := v.Saw(author(tt.a), tt.seq); got != tt.want {
			t.Errorf("Saw(%d, %d) = %v, want %v", tt.a, tt.seq, got, tt.want)
		}
	}
	v.Merge(view.VV{author(1): 3, author(2): 4, author(3): 2})
	if want := (view.VV{author(1): 5, author(2): 4, author(3): 2}); !maps.Equal(v, want) {
		t.Errorf("Merge = %v, want %v", v, want)
	}
}

func TestDecodeVVRejects(t *testing.T) {
	good := view.AppendVV(nil, sampleVV())
	entry := func(a keys.AuthorID, seq uint64) []byte {
		return binary.AppendUvarint(append([]byte(nil), a[:]...), seq)
	}
	dup := append([]byte{2}, entry(author(1), 1)...)
	dup = append(dup, entry(author(1), 2)...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"trailing byte", append(slices.Clone(good), 0)},
		{"trailing bytes after an empty vector", []byte{0, 0}},
		{"count larger than the entries", append([]byte{6}, good[1:]...)},
		{"count smaller than the entries", append([]byte{4}, good[1:]...)},
		{"huge count", binary.AppendUvarint(nil, math.MaxUint64)},
		{"count overflows", bytes.Repeat([]byte{0xff}, 11)},
		{"seq overflows", append(append([]byte{1}, make([]byte, keys.Size)...), bytes.Repeat([]byte{0xff}, 11)...)},
		{"duplicate author", dup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := view.DecodeVV(tt.b)
			if err == nil {
				t.Fatalf("DecodeVV(%x) accepted %v", clip(tt.b), v)
			}
			if !errors.Is(err, view.ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
	for i := range len(good) {
		if v, err := view.DecodeVV(good[:i]); err == nil || !errors.Is(err, view.ErrCorrupt) {
			t.Fatalf("DecodeVV of the first %d of %d bytes = %v, %v; want ErrCorrupt", i, len(good), v, err)
		}
	}
}

// TestEraseKeepsDigest: erasing a payload leaves the view hash as it was
// (it covers the payload's digest) and survives the cell's encoding.
func TestEraseKeepsDigest(t *testing.T) {
	e := put(ver(20, 2, 1, 0), "a photo posted by mistake")
	want := view.EntryDigest([]byte("k"), &e)
	e.Erase()
	if e.Value != nil || !e.Erased || e.PayloadLen != len("a photo posted by mistake") {
		t.Fatalf("erased entry: %+v", e)
	}
	if got := view.EntryDigest([]byte("k"), &e); got != want {
		t.Fatal("erasing changed the entry's digest")
	}
	c := view.Cell{Live: []view.Entry{e}}
	d, err := view.DecodeCell(view.AppendCell(nil, &c))
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := d.Winner(); !w.Erased || w.Value != nil || view.EntryDigest([]byte("k"), &w) != want {
		t.Fatalf("decoded erased entry: %+v", w)
	}
}

// TestLostEntry: a lost entry (payload not held, no erase that counts) is
// visible with the digest it had, survives encoding, and an erase that
// counts then erases it.
func TestLostEntry(t *testing.T) {
	e := put(ver(20, 2, 1, 0), "kept elsewhere")
	want := view.EntryDigest([]byte("k"), &e)
	e.Lose()
	if !e.Lost || !e.Erased || e.Value != nil || !e.Visible() || view.EntryDigest([]byte("k"), &e) != want {
		t.Fatalf("lost entry: %+v, visible %v", e, e.Visible())
	}
	c := view.Cell{Live: []view.Entry{e}}
	d, err := view.DecodeCell(view.AppendCell(nil, &c))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := d.Winner()
	if !w.Lost || !w.Visible() || view.EntryDigest([]byte("k"), &w) != want {
		t.Fatalf("decoded lost entry: %+v", w)
	}
	if dg, ok := d.VisibleDigest([]byte("k")); !ok || dg != want {
		t.Fatal("a lost winner is not in the view hash with its digest")
	}
	w.Erase()
	if w.Lost || !w.Erased || w.Visible() || view.EntryDigest([]byte("k"), &w) != want {
		t.Fatalf("lost entry erased: %+v, visible %v", w, w.Visible())
	}
}
