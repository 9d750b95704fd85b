package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/keys"
)

func bookAuthor(i int) keys.AuthorID {
	return keys.DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8), 1}).Author()
}

// TestPeerBookBounds: the book keeps at most maxBookSpacePeers peers per
// space (the most recently seen) and maxBookPeers in all, and survives a
// save and a load unchanged.
func TestPeerBookBounds(t *testing.T) {
	home := t.TempDir()
	pb, err := loadPeerBook(home)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	sp := keys.SpaceID{1}
	for i := range 40 {
		pb.record(sp, bookAuthor(i), []string{fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001/p2p/x", i)}, t0.Add(time.Duration(i)*time.Second))
	}
	ps := pb.peers(sp)
	if len(ps) != maxBookSpacePeers || ps[0].ID != bookAuthor(39) || ps[len(ps)-1].ID != bookAuthor(40-maxBookSpacePeers) {
		t.Fatalf("space peers: %d, first %v", len(ps), ps[0].ID)
	}
	for i := range maxBookPeers + 50 {
		pb.record(keys.SpaceID{2, byte(i), byte(i >> 8)}, bookAuthor(1000+i), []string{"/ip4/10.0.1.1/tcp/1/p2p/y"}, t0.Add(time.Hour+time.Duration(i)*time.Second))
	}
	if n := len(pb.d.peers); n != maxBookPeers {
		t.Errorf("%d peers in the book, want %d", n, maxBookPeers)
	}
	if got := pb.peers(sp); len(got) != 0 {
		t.Errorf("the oldest peers were not dropped: %d left", len(got))
	}
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprintf("/ip4/10.0.2.%d/tcp/1/p2p/z", i)
	}
	pb.record(sp, bookAuthor(7), many, t0.Add(2*time.Hour))
	if got := pb.peers(sp); len(got) != 1 || len(got[0].Addrs) != maxBookAddrs {
		t.Errorf("addresses of a peer: %+v", got)
	}
	if err := pb.save(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(home, peerBookFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(home, peerBookFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("the book has mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := loadPeerBook(home)
	if err != nil {
		t.Fatal(err)
	}
	if string(encodePeerBook(again.d)) != string(b) {
		t.Error("the book changed across a save and a load")
	}
	again.keep([]keys.SpaceID{sp})
	if len(again.d.spaces) != 1 || len(again.d.peers) != 1 {
		t.Errorf("keep: %d spaces, %d peers", len(again.d.spaces), len(again.d.peers))
	}
}

// TestPeerBookCorrupt: a book that cannot be read is reported and
// replaced by an empty one.
func TestPeerBookCorrupt(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, peerBookFile), []byte{0xa1, 0x01}, 0o600); err != nil {
		t.Fatal(err)
	}
	pb, err := loadPeerBook(home)
	if !errors.Is(err, ErrBadPeerBook) || pb == nil || len(pb.d.peers) != 0 {
		t.Fatalf("corrupt book: %v", err)
	}
}

func samplePeerBook() []byte {
	d := newBookData()
	a, b := bookAuthor(1), bookAuthor(2)
	d.peers[a] = bookPeer{addrs: []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt"}, seen: time.Unix(1_700_000_000, 0)}
	d.peers[b] = bookPeer{addrs: []string{"/ip4/10.0.0.2/udp/1/quic-v1/p2p/x", "/ip6/::1/tcp/2/p2p/x"}, seen: time.Unix(1_700_000_500, 0)}
	d.spaces[keys.SpaceID{1}] = []keys.AuthorID{b, a}
	d.spaces[keys.SpaceID{2}] = []keys.AuthorID{a}
	return encodePeerBook(d)
}

// FuzzDecodePeerBook checks that an accepted peer book re-encodes to the
// same bytes (one encoding per book) and stays within its bounds.
//
//	go test -run='^$' -fuzz=FuzzDecodePeerBook -fuzztime=20s ./internal/node
func FuzzDecodePeerBook(f *testing.F) {
	f.Add(samplePeerBook())
	f.Add(encodePeerBook(newBookData()))
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Add([]byte{0xa2, 0x01, 0x01, 0x02, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok := reencodes(t, b, decodePeerBook, encodePeerBook)
		if ok && (len(d.peers) > maxBookPeers || len(d.spaces) > maxBookSpaces) {
			t.Fatalf("%d peers, %d spaces", len(d.peers), len(d.spaces))
		}
	})
}

// FuzzDecodePendingJoin checks that an accepted join record re-encodes to
// the same bytes.
//
//	go test -run='^$' -fuzz=FuzzDecodePendingJoin -fuzztime=20s ./internal/node
func FuzzDecodePendingJoin(f *testing.F) {
	tk := keys.Ticket{Space: keys.SpaceID{1}, Name: "garden", Invite: keys.DeviceKeyFromSeed([32]byte{2}),
		Addrs: []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt"}}
	f.Add(encodePendingJoin(pendingJoin{Ticket: tk, Started: time.Unix(1_700_000_000, 0), Added: true, Keys: true}))
	f.Add(encodePendingJoin(pendingJoin{Ticket: keys.Ticket{Space: keys.SpaceID{3}}, Started: time.Unix(1, 0)}))
	f.Add([]byte{0xa2, 0x01, 0x60, 0x02, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) { reencodes(t, b, decodePendingJoin, encodePendingJoin) })
}

// reencodes decodes b and, when decode accepts it, fails the test unless
// encode gives the same bytes back (one encoding per value). It returns
// the value and whether b was accepted.
func reencodes[T any](t *testing.T, b []byte, decode func([]byte) (T, error), encode func(T) []byte) (T, bool) {
	t.Helper()
	v, err := decode(b)
	if err != nil {
		return v, false
	}
	if got := encode(v); string(got) != string(b) {
		t.Fatalf("accepted %x but it re-encodes as %x", b, got)
	}
	return v, true
}
