package bodylog

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// body returns record i's bytes, n of them: distinct per record, so a
// place that reads another record's bytes is caught.
func body(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*131 + j*7 + j>>8)
	}
	return b
}

// tb is what the helpers need of a *testing.T, *testing.B or *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func mustOpen(t tb, fs vfs.FS, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(fs, dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// checkRead reads p and wants want.
func checkRead(t tb, l *Log, p Place, want []byte) {
	t.Helper()
	got, err := l.Read(p, nil)
	if err != nil {
		t.Fatalf("Read(%v): %v", p, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Read(%v): %d bytes, not the %d appended", p, len(got), len(want))
	}
}

// TestRoundTrip: records of 0..100 KiB appended in groups across many
// segments of 64 KiB read back before and after a reopen, on the memory
// and the OS file systems; each segment but the tail is within the target
// or holds one record, and Read appends to dst.
func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		fs   vfs.FS
		dir  string
	}{
		{"mem", vfs.NewMem(), "home/bodies"},
		{"os", vfs.Default, t.TempDir() + "/bodies"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{SegmentSize: 64 << 10, MaxOpenSegments: 4}
			l := mustOpen(t, c.fs, c.dir, o)
			rnd := rand.New(rand.NewPCG(1, 2))
			var recs [][]byte
			var places []Place
			for len(recs) < 400 {
				group := make([][]byte, rnd.IntN(8))
				for i := range group {
					n := rnd.IntN(4 << 10)
					if rnd.IntN(10) == 0 {
						n = rnd.IntN(100<<10 + 1)
					}
					group[i] = body(len(recs)+i, n)
				}
				ps, err := l.Append(group...)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) != len(group) {
					t.Fatalf("%d places for %d records", len(ps), len(group))
				}
				recs, places = append(recs, group...), append(places, ps...)
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			for i, p := range places {
				checkRead(t, l, p, recs[i])
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			l = mustOpen(t, c.fs, c.dir, o)
			defer l.Close()
			segs := l.Segments()
			if len(segs) < 10 {
				t.Fatalf("%d segments, want many", len(segs))
			}
			perSeg := map[uint32]int{}
			for _, p := range places {
				perSeg[p.Seg]++
			}
			for _, s := range segs[:len(segs)-1] {
				if s.Size > o.SegmentSize && perSeg[s.Seg] != 1 {
					t.Errorf("segment %d: %d bytes in %d records", s.Seg, s.Size, perSeg[s.Seg])
				}
			}
			dst := []byte("prefix")
			for i := rnd.IntN(2); i < len(places); i += 2 {
				checkRead(t, l, places[i], recs[i])
				var err error
				if dst, err = l.Read(places[i], dst[:6]); err != nil || string(dst[:6]) != "prefix" || !bytes.Equal(dst[6:], recs[i]) {
					t.Fatalf("Read with dst: %v", err)
				}
			}
			// Appending after the reopen goes on from the tail.
			ps, err := l.Append([]byte("after"))
			if err != nil {
				t.Fatal(err)
			}
			if last := places[len(places)-1]; ps[0].Seg < last.Seg || ps[0].Seg == last.Seg && ps[0].Off < last.Off+recordHeaderSize+last.Len {
				t.Fatalf("append after reopen at %v, before the last record %v", ps[0], last)
			}
			checkRead(t, l, ps[0], []byte("after"))
		})
	}
}

// TestAppendTooLarge: a record over 64 MiB is refused, with the others of
// its call; nothing is written.
func TestAppendTooLarge(t *testing.T) {
	l := mustOpen(t, vfs.NewMem(), "b", Options{})
	defer l.Close()
	_, err := l.Append([]byte("a"), make([]byte, MaxRecord+1))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append: %v, want ErrTooLarge", err)
	}
	if s := l.Segments(); len(s) != 1 || s[0].Size != headerSize {
		t.Fatalf("segments after a refused Append: %v", s)
	}
	if _, err := l.Append([]byte("b")); err != nil {
		t.Fatalf("Append after a refused one: %v", err)
	}
}

// TestReadCorrupt: a flipped byte in a record's bytes, length or checksum,
// a place past the tail, into a removed segment or with the wrong length
// fails with ErrCorrupt naming the segment and offset.
func TestReadCorrupt(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, "b", Options{SegmentSize: 1 << 10}) // 3 records a segment
	var places []Place
	for i := range 10 {
		ps, err := l.Append(body(i, 300))
		if err != nil {
			t.Fatal(err)
		}
		places = append(places, ps...)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	// Flip a byte of each of three records, in place, in their files.
	flip := func(p Place, at int) {
		f, err := fs.OpenReadWrite(l.path(p.Seg), vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var b [1]byte
		if _, err := f.ReadAt(b[:], int64(p.Off)+int64(at)); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x40
		if _, err := f.WriteAt(b[:], int64(p.Off)+int64(at)); err != nil {
			t.Fatal(err)
		}
	}
	flip(places[3], recordHeaderSize+100) // a byte of the record
	flip(places[5], 0)                    // its length
	flip(places[7], 5)                    // its checksum
	if err := l.Remove(places[0].Seg); err != nil {
		t.Fatal(err)
	}
	tail := places[len(places)-1]
	for _, c := range []struct {
		name string
		p    Place
		why  string
	}{
		{"flipped byte", places[3], "checksum mismatch"},
		{"flipped length", places[5], "the place says 300"},
		{"flipped checksum", places[7], "checksum mismatch"},
		{"removed segment", places[0], "no such segment"},
		{"unknown segment", Place{Seg: 99, Off: 16, Len: 1}, "no such segment"},
		{"past the tail", Place{Seg: tail.Seg, Off: tail.Off + 308, Len: 0}, "past the"},
		{"long place", Place{Seg: tail.Seg, Off: tail.Off, Len: 301}, "past the"},
		{"short place", Place{Seg: tail.Seg, Off: tail.Off, Len: 299}, "the place says 299"},
		{"inside the header", Place{Seg: tail.Seg, Off: 8, Len: 0}, "past the"},
		{"over the cap", Place{Seg: tail.Seg, Off: 16, Len: MaxRecord + 1}, "cap"},
	} {
		_, err := l.Read(c.p, nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.why) ||
			!strings.Contains(err.Error(), segName(c.p.Seg)) || !strings.Contains(err.Error(), "offset") {
			t.Errorf("%s: Read(%v) = %v, want ErrCorrupt saying %q", c.name, c.p, err, c.why)
		}
	}
	for _, i := range []int{4, 6, 8, 9} {
		checkRead(t, l, places[i], body(i, 300))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(places[4], nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestBadHeader: Open refuses a segment that is not a Loam segment, has
// another version or another number, saying what to do.
func TestBadHeader(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"stray file", []byte("not a segment at all"), "bodylog: segment 00000002.seg is not a Loam segment (bad header): move it out of b"},
		{"empty", nil, "is not a Loam segment (bad header): move it out of b"},
		{"short", []byte("loamseg1"), "is not a Loam segment (bad header)"},
		{"version 2", append([]byte("loamseg1\x02\x00\x00\x00"), 2, 0, 0, 0), "has format version 2, and this build reads version 1"},
		{"renamed", appendHeader(nil, 5), "says it is segment 5 (renamed or copied?): move it out of b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			l := mustOpen(t, fs, "b", Options{})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := fs.Create("b/00000002.seg", vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(c.data)
			f.Close()
			_, err = Open(fs, "b", Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// TestOpenCutsTornTail: a half-written record and what follows it are cut
// from the tail at Open, durably, and the next Append goes where it
// started; a segment temporary file left by a crash is removed; other
// files are left alone.
func TestOpenCutsTornTail(t *testing.T) {
	fs := vfs.NewCrashableMem()
	l := mustOpen(t, fs, "b", Options{})
	places, err := l.Append(body(0, 100), body(1, 200))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	end := int64(places[1].Off) + recordSize(200)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn record, then a whole one after it, then leftovers.
	f, err := fs.OpenReadWrite("b/00000001.seg", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	torn := appendRecord(nil, body(2, 50))[:30]
	f.WriteAt(append(torn, appendRecord(nil, body(3, 10))...), end)
	f.Sync()
	f.Close()
	for _, name := range []string{"b/00000007.seg.tmp", "b/notes.txt"} {
		f, _ := fs.Create(name, vfs.WriteCategoryUnspecified)
		f.Write([]byte("x"))
		f.Close()
	}

	l = mustOpen(t, fs, "b", Options{})
	if s := l.Segments(); len(s) != 1 || s[0].Size != end {
		t.Fatalf("segments after Open: %v, want one of %d bytes", s, end)
	}
	if names, _ := fs.List("b"); strings.Join(names, " ") != "00000001.seg notes.txt" && strings.Join(names, " ") != "notes.txt 00000001.seg" {
		t.Fatalf("files after Open: %v", names)
	}
	ps, err := l.Append(body(4, 10))
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Off != uint32(end) {
		t.Fatalf("Append after the cut at %v, want offset %d", ps[0], end)
	}
	l.Close()
	// The cut was durable: a crash that keeps only what was synced still
	// has no torn record before what Sync made durable.
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if st, err := crashed.Stat("b/00000001.seg"); err != nil || st.Size() != end {
		t.Fatalf("after a crash the tail is %v bytes (%v), want %d", st.Size(), err, end)
	}
}

// TestRemove: Remove refuses the tail and an unknown segment, deletes
// another, and the log opens again with a segment missing below the tail.
func TestRemove(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, "b", Options{SegmentSize: 256})
	var places []Place
	for i := range 10 {
		ps, err := l.Append(body(i, 200))
		if err != nil {
			t.Fatal(err)
		}
		places = append(places, ps...)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n != 10 {
		t.Fatalf("%d segments, want one per record", n)
	}
	if err := l.Remove(10); err == nil || !strings.Contains(err.Error(), "tail") {
		t.Fatalf("Remove(tail): %v", err)
	}
	if err := l.Remove(11); err == nil {
		t.Fatal("Remove(11) of no segment: no error")
	}
	for _, seg := range []uint32{3, 4} {
		if err := l.Remove(seg); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l = mustOpen(t, fs, "b", Options{SegmentSize: 256})
	defer l.Close()
	var nums []uint32
	for _, s := range l.Segments() {
		nums = append(nums, s.Seg)
	}
	if len(nums) != 8 || nums[2] != 5 {
		t.Fatalf("segments after Remove and reopen: %v", nums)
	}
	for i, p := range places {
		if _, err := l.Read(p, nil); (err != nil) != (p.Seg == 3 || p.Seg == 4) {
			t.Fatalf("Read(%v) of record %d: %v", p, i, err)
		}
	}
}

// TestOpenOptions: sizes a Log cannot use are refused; a file where the
// directory should be is named.
func TestOpenOptions(t *testing.T) {
	fs := vfs.NewMem()
	for _, o := range []Options{{SegmentSize: 10}, {SegmentSize: 2 << 30}, {MaxOpenSegments: -1}} {
		if _, err := Open(fs, "b", o); err == nil {
			t.Errorf("Open with %+v: no error", o)
		}
	}
	f, _ := fs.Create("file", vfs.WriteCategoryUnspecified)
	f.Close()
	if _, err := Open(fs, "file", Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open of a file: %v", err)
	}
}

// FuzzOpenTail: whatever bytes follow the tail segment's header, Open
// keeps the longest run of whole records from the start, cuts the rest,
// and appends after them.
func FuzzOpenTail(f *testing.F) {
	f.Add(appendRecord(appendRecord(nil, []byte("a")), []byte("bc")))
	f.Add(appendRecord(nil, []byte("a"))[:5])
	f.Add(append(appendRecord(nil, nil), make([]byte, 20)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0x03, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, tail []byte) {
		fs := vfs.NewMem()
		fs.MkdirAll("b", 0o700)
		w, _ := fs.Create("b/00000001.seg", vfs.WriteCategoryUnspecified)
		w.Write(append(appendHeader(nil, 1), tail...))
		w.Close()
		var recs [][]byte
		whole := 0
		for {
			rec, n, err := decodeRecord(tail[whole:])
			if err != nil {
				break
			}
			recs, whole = append(recs, rec), whole+n
		}
		l, err := Open(fs, "b", Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if s := l.Segments(); len(s) != 1 || s[0].Size != int64(headerSize+whole) {
			t.Fatalf("segments %v, want one of %d bytes", s, headerSize+whole)
		}
		off := uint32(headerSize)
		for _, rec := range recs {
			checkRead(t, l, Place{Seg: 1, Off: off, Len: uint32(len(rec))}, rec)
			off += recordHeaderSize + uint32(len(rec))
		}
		ps, err := l.Append([]byte("next"))
		if err != nil || ps[0] != (Place{Seg: 1, Off: off, Len: 4}) {
			t.Fatalf("Append after Open: %v, %v; want offset %d", ps, err, off)
		}
		checkRead(t, l, ps[0], []byte("next"))
	})
}

// TestReadOnly: a log opened read-only reads what the tail holds before a
// torn record and writes nothing: no cut, no temporary file removed, no
// directory made; every write fails with ErrReadOnly. Opened for writing
// afterwards, it cuts the torn record as usual.
func TestReadOnly(t *testing.T) {
	fs := vfs.NewMem()
	if l, err := Open(fs, "none", Options{ReadOnly: true}); err != nil || len(l.Segments()) != 0 {
		t.Fatalf("a read-only open of a missing log: %v, %v", err, l)
	}
	if _, err := fs.Stat("none"); err == nil {
		t.Fatal("a read-only open made the log's directory")
	}
	l := mustOpen(t, fs, "b", Options{})
	places, err := l.Append(body(0, 100), body(1, 200))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	end := int64(places[1].Off) + recordSize(200)
	l.Close()
	f, err := fs.OpenReadWrite("b/00000001.seg", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(appendRecord(nil, body(2, 50))[:30], end)
	f.Close()
	tmp, _ := fs.Create("b/00000002.seg.tmp", vfs.WriteCategoryUnspecified)
	tmp.Close()

	ro := mustOpen(t, fs, "b", Options{ReadOnly: true})
	checkRead(t, ro, places[0], body(0, 100))
	checkRead(t, ro, places[1], body(1, 200))
	if _, err := ro.Read(Place{Seg: 1, Off: uint32(end), Len: 50}, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading the torn record: %v, want ErrCorrupt", err)
	}
	if _, err := ro.Append(body(3, 10)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append: %v, want ErrReadOnly", err)
	}
	for name, err := range map[string]error{"Sync": ro.Sync(), "Rotate": ro.Rotate()} {
		if !errors.Is(err, ErrReadOnly) {
			t.Fatalf("%s: %v, want ErrReadOnly", name, err)
		}
	}
	if st, err := fs.Stat("b/00000001.seg"); err != nil || st.Size() != end+30 {
		t.Fatalf("the tail after a read-only open: %v bytes (%v), want the torn %d", st.Size(), err, end+30)
	}
	if _, err := fs.Stat("b/00000002.seg.tmp"); err != nil {
		t.Fatalf("a read-only open removed a temporary file: %v", err)
	}
	ro.Close()
	rw := mustOpen(t, fs, "b", Options{})
	defer rw.Close()
	if s := rw.Segments(); len(s) != 1 || s[0].Size != end {
		t.Fatalf("segments after an open for writing: %v, want one of %d bytes", s, end)
	}
}
