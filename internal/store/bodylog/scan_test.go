package bodylog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestScanRotate: Scan yields a segment's records with their places, in
// order, across a Rotate, which starts a new tail (and leaves an empty
// one as it is); the rotated segment can then be removed, and the log
// reopens with the records of the new tail.
func TestScanRotate(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, "bodies", Options{})
	var places []Place
	for i := range 5 {
		ps, err := l.Append(body(i, 10+i*100))
		if err != nil {
			t.Fatal(err)
		}
		places = append(places, ps...)
	}
	if err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	if l.Tail() != 2 {
		t.Fatalf("tail %d after Rotate, want 2", l.Tail())
	}
	if err := l.Rotate(); err != nil || l.Tail() != 2 {
		t.Fatalf("Rotate of an empty tail: %v, tail %d, want 2", err, l.Tail())
	}
	ps, err := l.Append(body(9, 50))
	if err != nil {
		t.Fatal(err)
	}
	var got []Place
	err = l.Scan(1, func(p Place, rec []byte) error {
		i := len(got)
		if !bytes.Equal(rec, body(i, 10+i*100)) {
			t.Errorf("record %d: wrong bytes", i)
		}
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(places) {
		t.Fatalf("Scan: %d records, want %d", len(got), len(places))
	}
	for i := range got {
		if got[i] != places[i] {
			t.Errorf("record %d at %v, Append said %v", i, got[i], places[i])
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := l.Scan(1, func(Place, []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Scan stopped by fn: %v after %d records", err, n)
	}
	if err := l.Remove(1); err != nil {
		t.Fatal(err)
	}
	if err := l.Scan(1, func(Place, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Scan of a removed segment: %v, want ErrCorrupt", err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = mustOpen(t, fs, "bodies", Options{})
	defer l.Close()
	checkRead(t, l, ps[0], body(9, 50))
	if segs := l.Segments(); len(segs) != 1 || segs[0].Seg != 2 {
		t.Errorf("segments after reopen: %v, want only 2", segs)
	}
}
