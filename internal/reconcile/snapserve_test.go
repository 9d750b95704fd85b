package reconcile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/loamdb/loam/internal/frame"
	"github.com/loamdb/loam/internal/keys"
)

// fakeSnaps serves one snapshot of one space.
type fakeSnaps struct {
	sp    keys.SpaceID
	offer SnapOffer
	parts [SnapParts][]byte
}

func (f *fakeSnaps) SnapSpace(disc keys.Digest) (keys.SpaceID, bool) {
	return f.sp, disc == keys.DiscoveryID(f.sp)
}

func (f *fakeSnaps) SnapOffer(context.Context, keys.SpaceID) (SnapOffer, bool, error) {
	return f.offer, true, nil
}

func (f *fakeSnaps) SnapPart(_ context.Context, _ keys.SpaceID, c keys.CommitID, part int) (io.ReadCloser, int64, error) {
	if c != f.offer.ID {
		return nil, 0, ErrNoSnapshot
	}
	return io.NopCloser(bytes.NewReader(f.parts[part-1])), int64(len(f.parts[part-1])), nil
}

// snapPair runs ServeSnapshot for server over one end of a pipe and
// returns a client on the other as joiner, the function that closes the
// client's end, and the server's result.
func snapPair(t *testing.T, src SnapSource, server, joiner keys.AuthorID) (*SnapClient, func() error, <-chan error) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	done := make(chan error, 1)
	go func() {
		err := ServeSnapshot(context.Background(), a, server, joiner, src, frame.Timeouts{})
		a.Close()
		done <- err
	}()
	return NewSnapClient(b, joiner, server, frame.Timeouts{}), b.Close, done
}

func newFakeSnaps(g goldenSync) *fakeSnaps {
	f := &fakeSnaps{sp: g.space.Space()}
	for i := range f.parts {
		f.parts[i] = bytes.Repeat([]byte{byte(i + 1)}, (i+1)*(MaxSnapData/2)+i) // parts over several Data messages
	}
	f.parts[SnapCausal-1] = nil // an empty part
	f.offer = SnapOffer{ID: g.genesis.ID, Commit: g.genesis.Bytes()}
	for i, p := range f.parts {
		f.offer.Sizes[i] = uint64(len(p))
	}
	return f
}

// TestServeSnapshot: a joiner with the proof gets the offer and every
// part, whole or from an offset; a space the server does not hold is
// answered None; a checkpoint it does not keep, or an offset past the
// end, Err, and the stream goes on.
func TestServeSnapshot(t *testing.T) {
	g := newGoldenSync(t)
	src := newFakeSnaps(g)
	sp := g.space.Space()
	c, hangUp, done := snapPair(t, src, g.a.Author(), g.b.Author())

	o, ok, err := c.Offer(sp)
	if err != nil || !ok || !bytes.Equal(o.Commit, g.genesis.Bytes()) || o.Sizes != src.offer.Sizes {
		t.Fatalf("offer: %v %v %+v", ok, err, o.Sizes)
	}
	for i := range SnapParts {
		var buf bytes.Buffer
		n, err := c.Fetch(sp, g.genesis.ID, i+1, 0, o.Sizes[i], &buf)
		if err != nil || n != o.Sizes[i] || !bytes.Equal(buf.Bytes(), src.parts[i]) {
			t.Fatalf("part %d: %d bytes, %v", i+1, n, err)
		}
	}
	var tail bytes.Buffer
	if n, err := c.Fetch(sp, g.genesis.ID, SnapCells, 1000, o.Sizes[SnapCells-1], &tail); err != nil || !bytes.Equal(tail.Bytes(), src.parts[SnapCells-1][1000:]) {
		t.Fatalf("part from an offset: %d bytes, %v", n, err)
	}
	other := keys.SpaceKeyFromSeed(fill32(0x09)).Space()
	if _, ok, err := c.Offer(other); ok || err != nil {
		t.Errorf("offer of a space the server does not hold: %v, %v; want None", ok, err)
	}
	if _, err := c.Fetch(sp, keys.CommitID{1}, SnapCells, 0, 10, io.Discard); !errors.Is(err, errSnapRefused) {
		t.Errorf("a checkpoint not kept: %v, want a refusal", err)
	}
	req := &SnapMsg{Type: SnapMsgSection, Disc: keys.DiscoveryID(sp), Proof: keys.SyncProof(sp, g.b.Author(), g.a.Author()), ID: g.genesis.ID, Part: SnapACL, Offset: o.Sizes[SnapACL-1]}
	if err := c.c.WriteFrame(req.Encode()); err != nil {
		t.Fatal(err)
	}
	if m, err := c.read(); err != nil || m.Type != SnapMsgErr {
		t.Errorf("an offset at the end: %+v, %v; want Err", m, err)
	}
	if _, ok, err := c.Offer(sp); !ok || err != nil {
		t.Errorf("the stream did not go on: %v, %v", ok, err)
	}
	hangUp()
	if err := <-done; err != nil {
		t.Errorf("server, after the joiner hung up: %v", err)
	}
}

// TestServeSnapshotStranger: a peer that knows the space's discovery ID
// but not the space (a wrong proof) gets nothing, and the server reports
// it as misbehaving (bad proof).
func TestServeSnapshotStranger(t *testing.T) {
	g := newGoldenSync(t)
	src := newFakeSnaps(g)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		err := ServeSnapshot(context.Background(), a, g.a.Author(), g.b.Author(), src, frame.Timeouts{})
		a.Close()
		done <- err
	}()
	fc := frame.NewConn(b, MaxSnapFrame, frame.Timeouts{})
	for _, m := range []*SnapMsg{
		{Type: SnapMsgOffer, Disc: g.disc, Proof: keys.SyncProof(g.space.Space(), g.a.Author(), g.b.Author())}, // a proof reflected back
	} {
		if err := fc.WriteFrame(m.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := fc.ReadFrame(); err == nil {
		t.Errorf("the stranger got %x", b)
	}
	if err := <-done; !errors.Is(err, ErrBadProof) {
		t.Errorf("server: %v, want ErrBadProof", err)
	}
}
