package node

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
)

// The peer book remembers, per held space, the peers this node synced it
// with and their addresses, in HOME/peers.cbor, so that a restarted node
// dials them again when neither the DHT nor mDNS would find them (a LAN
// without mDNS, peers known only from a ticket). docs/design.md,
// "Reconnecting, tickets and joins (#10)".
const (
	peerBookFile = "peers.cbor"
	// Bounds of the book: it is read back at every start, and its size
	// must not grow with the peers a node ever met.
	maxBookPeers      = 256 // peers in all; past it the least recently seen go
	maxBookSpaces     = 512 // spaces; only held ones are kept
	maxBookSpacePeers = 16  // peers per space, most recently seen first
	maxBookAddrs      = 8   // addresses per peer
	maxBookAddr       = 256 // bytes of one address
	maxBookSize       = 1 << 20
	bookVersion       = 1
)

// ErrBadPeerBook wraps the errors of decodePeerBook.
var ErrBadPeerBook = errors.New("malformed peer book")

// bookPeer is one peer of the book.
type bookPeer struct {
	addrs []string  // multiaddrs with /p2p/, sorted
	seen  time.Time // last synced with, to the second
}

// bookData is the peer book's contents.
type bookData struct {
	peers  map[keys.AuthorID]bookPeer
	spaces map[keys.SpaceID][]keys.AuthorID // most recently seen first; every peer is in peers
}

func newBookData() *bookData {
	return &bookData{peers: map[keys.AuthorID]bookPeer{}, spaces: map[keys.SpaceID][]keys.AuthorID{}}
}

type wireBook struct {
	Version uint            `cbor:"1,keyasint"`
	Peers   []wireBookPeer  `cbor:"2,keyasint,omitempty"` // by ID
	Spaces  []wireBookSpace `cbor:"3,keyasint,omitempty"` // by space
}

type wireBookPeer struct {
	ID    []byte   `cbor:"1,keyasint"`
	Addrs []string `cbor:"2,keyasint"` // sorted, at least one
	Seen  uint64   `cbor:"3,keyasint"` // Unix seconds
}

type wireBookSpace struct {
	Space []byte   `cbor:"1,keyasint"`
	Peers [][]byte `cbor:"2,keyasint"` // most recently seen first
}

var bookDec = keys.StrictCBOR(keys.CBORLimits{Nesting: 5, ArrayElems: maxBookSpaces, MapPairs: 16, Closed: true})

// encodePeerBook returns the canonical encoding of d.
func encodePeerBook(d *bookData) []byte {
	w := wireBook{Version: bookVersion}
	for id, p := range d.peers {
		w.Peers = append(w.Peers, wireBookPeer{ID: id[:], Addrs: p.addrs, Seen: uint64(p.seen.Unix())})
	}
	slices.SortFunc(w.Peers, func(a, b wireBookPeer) int { return bytes.Compare(a.ID, b.ID) })
	for sp, ps := range d.spaces {
		ws := wireBookSpace{Space: sp[:]}
		for _, p := range ps {
			ws.Peers = append(ws.Peers, p[:])
		}
		w.Spaces = append(w.Spaces, ws)
	}
	slices.SortFunc(w.Spaces, func(a, b wireBookSpace) int { return bytes.Compare(a.Space, b.Space) })
	b, err := keys.CanonicalCBOR.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("node: encode peer book: %v", err))
	}
	return b
}

// decodePeerBook decodes a peer book strictly: within the bounds, in
// canonical order, every peer listed in some space and every space's
// peers listed. It accepts exactly what encodePeerBook writes.
func decodePeerBook(b []byte) (*bookData, error) {
	if len(b) > maxBookSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadPeerBook, len(b), maxBookSize)
	}
	var w wireBook
	if err := bookDec.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerBook, err)
	}
	if w.Version != bookVersion {
		return nil, fmt.Errorf("%w: version %d (this loam reads version %d)", ErrBadPeerBook, w.Version, bookVersion)
	}
	if w.Peers != nil && len(w.Peers) == 0 || w.Spaces != nil && len(w.Spaces) == 0 {
		return nil, fmt.Errorf("%w: an empty list is written by leaving it out", ErrBadPeerBook)
	}
	if len(w.Peers) > maxBookPeers {
		return nil, fmt.Errorf("%w: %d peers", ErrBadPeerBook, len(w.Peers))
	}
	d := newBookData()
	for i, p := range w.Peers {
		if len(p.ID) != keys.Size || i > 0 && bytes.Compare(w.Peers[i-1].ID, p.ID) >= 0 {
			return nil, fmt.Errorf("%w: peer %d", ErrBadPeerBook, i)
		}
		if len(p.Addrs) == 0 || len(p.Addrs) > maxBookAddrs || !slices.IsSorted(p.Addrs) || len(slices.Compact(slices.Clone(p.Addrs))) != len(p.Addrs) {
			return nil, fmt.Errorf("%w: addresses of peer %d", ErrBadPeerBook, i)
		}
		for _, a := range p.Addrs {
			if a == "" || len(a) > maxBookAddr {
				return nil, fmt.Errorf("%w: an address of peer %d", ErrBadPeerBook, i)
			}
		}
		if p.Seen > 1<<40 {
			return nil, fmt.Errorf("%w: time of peer %d", ErrBadPeerBook, i)
		}
		d.peers[keys.AuthorID(p.ID)] = bookPeer{addrs: p.Addrs, seen: time.Unix(int64(p.Seen), 0)}
	}
	used := map[keys.AuthorID]bool{}
	for i, s := range w.Spaces {
		if len(s.Space) != keys.Size || i > 0 && bytes.Compare(w.Spaces[i-1].Space, s.Space) >= 0 {
			return nil, fmt.Errorf("%w: space %d", ErrBadPeerBook, i)
		}
		if len(s.Peers) == 0 || len(s.Peers) > maxBookSpacePeers {
			return nil, fmt.Errorf("%w: space %d has %d peers", ErrBadPeerBook, i, len(s.Peers))
		}
		var ps []keys.AuthorID
		for _, p := range s.Peers {
			if len(p) != keys.Size {
				return nil, fmt.Errorf("%w: a peer of space %d", ErrBadPeerBook, i)
			}
			a := keys.AuthorID(p)
			if _, ok := d.peers[a]; !ok || slices.Contains(ps, a) {
				return nil, fmt.Errorf("%w: a peer of space %d is unknown or listed twice", ErrBadPeerBook, i)
			}
			ps = append(ps, a)
			used[a] = true
		}
		d.spaces[keys.SpaceID(s.Space)] = ps
	}
	if len(used) != len(d.peers) {
		return nil, fmt.Errorf("%w: a peer is in no space", ErrBadPeerBook)
	}
	// What the checks above cannot see (a null or undefined value where a
	// list may be left out) is caught here: exactly encodePeerBook's bytes.
	if !bytes.Equal(encodePeerBook(d), b) {
		return nil, fmt.Errorf("%w: not in its one encoding", ErrBadPeerBook)
	}
	return d, nil
}

// peerBook is the node's peer book: the contents, and the file they are
// saved to.
type peerBook struct {
	path string

	mu    sync.Mutex // guards d and dirty; never held across I/O
	d     *bookData
	dirty bool // d changed since it was last saved
	// saveMu orders writers of the file.
	saveMu sync.Mutex
}

// loadPeerBook reads the book in home. A book that cannot be read is
// reported and replaced by an empty one: it only helps to reconnect
// sooner, and the peers are found again as they connect.
func loadPeerBook(home string) (*peerBook, error) {
	pb := &peerBook{path: filepath.Join(home, peerBookFile), d: newBookData()}
	b, err := os.ReadFile(pb.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pb, nil
	case err != nil:
		return pb, fmt.Errorf("node: read the peer book: %w", err)
	}
	d, err := decodePeerBook(b)
	if err != nil {
		return pb, fmt.Errorf("node: %s: %w (it is rebuilt as peers connect)", pb.path, err)
	}
	pb.d = d
	return pb, nil
}

// record notes that this node synced space sp with peer at addrs, now:
// peer moves to the front of sp's list. Past the bounds, the least
// recently seen go.
func (pb *peerBook) record(sp keys.SpaceID, peer keys.AuthorID, addrs []string, now time.Time) {
	addrs = bookAddrs(addrs)
	if len(addrs) == 0 {
		return // nothing to dial it at
	}
	now = now.Truncate(time.Second)
	pb.mu.Lock()
	defer pb.mu.Unlock()
	d := pb.d
	old, known := d.peers[peer]
	ps := d.spaces[sp]
	if known && len(ps) > 0 && ps[0] == peer && slices.Equal(old.addrs, addrs) && now.Sub(old.seen) < bookRefresh {
		return // nothing worth a write
	}
	d.peers[peer] = bookPeer{addrs: addrs, seen: now}
	if i := slices.Index(ps, peer); i >= 0 {
		ps = slices.Delete(ps, i, i+1)
	}
	ps = slices.Insert(ps, 0, peer)
	for len(ps) > maxBookSpacePeers {
		ps = ps[:len(ps)-1]
	}
	d.spaces[sp] = ps
	pb.prune()
	pb.dirty = true
}

// bookRefresh is how stale a peer's time may get before recording it again
// is worth a write.
const bookRefresh = time.Hour

// bookAddrs returns the addresses of addrs worth keeping, sorted: within
// the bounds, at most maxBookAddrs, public ones first (p2p.RankAddrs).
func bookAddrs(addrs []string) []string {
	var out []string
	for _, a := range p2p.RankAddrs(addrs) {
		if a != "" && len(a) <= maxBookAddr && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) > maxBookAddrs {
		out = out[:maxBookAddrs]
	}
	slices.Sort(out)
	return out
}

// prune drops peers no space lists, then the least recently seen peers
// and spaces past the bounds. pb.mu is held.
func (pb *peerBook) prune() {
	d := pb.d
	for len(d.spaces) > maxBookSpaces {
		var oldest keys.SpaceID
		var at time.Time
		for sp, ps := range d.spaces {
			if t := d.peers[ps[0]].seen; at.IsZero() || t.Before(at) {
				oldest, at = sp, t
			}
		}
		delete(d.spaces, oldest)
	}
	used := map[keys.AuthorID]bool{}
	for _, ps := range d.spaces {
		for _, p := range ps {
			used[p] = true
		}
	}
	for p := range d.peers {
		if !used[p] {
			delete(d.peers, p)
		}
	}
	for len(d.peers) > maxBookPeers {
		var oldest keys.AuthorID
		var at time.Time
		for p, bp := range d.peers {
			if at.IsZero() || bp.seen.Before(at) {
				oldest, at = p, bp.seen
			}
		}
		pb.dropPeer(oldest)
	}
}

// dropPeer removes p from the book. pb.mu is held.
func (pb *peerBook) dropPeer(p keys.AuthorID) {
	delete(pb.d.peers, p)
	for sp, ps := range pb.d.spaces {
		if i := slices.Index(ps, p); i >= 0 {
			ps = slices.Delete(ps, i, i+1)
			if len(ps) == 0 {
				delete(pb.d.spaces, sp)
			} else {
				pb.d.spaces[sp] = ps
			}
		}
	}
}

// keep drops the spaces not in held (left, or never joined).
func (pb *peerBook) keep(held []keys.SpaceID) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	for sp := range pb.d.spaces {
		if !slices.Contains(held, sp) {
			delete(pb.d.spaces, sp)
			pb.dirty = true
		}
	}
	pb.prune()
}

// forget drops space sp from the book.
func (pb *peerBook) forget(sp keys.SpaceID) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if _, ok := pb.d.spaces[sp]; ok {
		delete(pb.d.spaces, sp)
		pb.prune()
		pb.dirty = true
	}
}

// peers returns the peers of sp, most recently seen first, with their
// addresses.
func (pb *peerBook) peers(sp keys.SpaceID) []bookEntry {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	var out []bookEntry
	for _, p := range pb.d.spaces[sp] {
		out = append(out, bookEntry{ID: p, Addrs: slices.Clone(pb.d.peers[p].addrs)})
	}
	return out
}

// bookEntry is a peer of the book and its addresses.
type bookEntry struct {
	ID    keys.AuthorID
	Addrs []string
}

// save writes the book if it changed, atomically (a temporary file synced
// and renamed into place, 0600): a crash leaves the old book or the new.
func (pb *peerBook) save() error {
	pb.saveMu.Lock()
	defer pb.saveMu.Unlock()
	pb.mu.Lock()
	if !pb.dirty {
		pb.mu.Unlock()
		return nil
	}
	b := encodePeerBook(pb.d)
	pb.dirty = false
	pb.mu.Unlock()
	if err := replaceFile(pb.path, b); err != nil {
		pb.mu.Lock()
		pb.dirty = true
		pb.mu.Unlock()
		return fmt.Errorf("node: save the peer book: %w", err)
	}
	return nil
}
